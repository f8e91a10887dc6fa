// "Alice added Carol", "Bob left": lines for the timeline, from the difference between what a
// group looked like and what a `thread` event (or a refresh) says it looks like now.

function names(list, me) {
  const words = list.map((u) => (u.id === me?.id ? 'you' : u.nickName || u.userName || 'someone'));
  if (words.length <= 2) return words.join(' and ');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

function take(pending, threadId, field, userId) {
  const i = pending.findIndex((a) => a.threadId === threadId && a[field] === userId);
  if (i < 0) return false;
  pending.splice(i, 1);
  return true;
}

/**
 * before: {members, name}; after: the thread now; pending: actions this client just made
 * ({threadId, added|removed: userId}), consumed here. Only the owner adds and renames, so the
 * owner is named as the actor; a member who is gone left or was removed, which the event does
 * not say, unless this client did it.
 */
export function membershipLines(before, after, me, pending) {
  const lines = [];
  const was = new Map(before.members.map((u) => [u.id, u]));
  const now = new Map(after.members.map((u) => [u.id, u]));
  const owner = now.get(after.ownerId) || was.get(after.ownerId) || null;
  const ownerName = owner ? (owner.id === me?.id ? 'You' : owner.nickName) : 'Someone';
  const added = after.members.filter((u) => !was.has(u.id));
  const gone = before.members.filter((u) => !now.has(u.id));
  if (added.length) {
    for (const u of added) take(pending, after.id, 'added', u.id);
    lines.push(`${ownerName} added ${names(added, me)}`);
  }
  for (const u of gone) {
    const mine = take(pending, after.id, 'removed', u.id);
    if (mine) lines.push(`You removed ${u.nickName}`);
    else if (u.id === after.ownerId) lines.push(`${u.nickName} left`);
    else lines.push(`${u.nickName} left the group`);
  }
  if (before.name && after.name && before.name !== after.name) {
    lines.push(`${ownerName} renamed the group to “${after.name}”`);
  }
  return lines;
}

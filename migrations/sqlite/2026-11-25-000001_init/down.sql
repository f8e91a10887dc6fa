DROP TABLE attachments;
DROP TABLE messages;
DROP TABLE thread_members;
DROP TABLE threads;
DROP TABLE users;

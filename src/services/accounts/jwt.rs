//! HS256 access tokens with `sub`, `sid`, `iat` and `exp`; any other algorithm is refused.

use std::io::Write;
use std::path::Path;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{SessionId, UserId};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id, as a string per RFC 7519 (a number is accepted too).
    sub: SubjectId,
    /// The session, as a string: a token of an ended session is refused. Read as optional so
    /// that a signed token without one is judged like any other (its user first), then
    /// refused for want of a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    iat: i64,
    exp: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum SubjectId {
    Text(String),
    Number(i64),
}

#[derive(Debug, Clone, Copy)]
pub struct VerifiedClaims {
    pub user_id: UserId,
    /// `None`: the token names no session, so it can only be refused (after its user is
    /// looked up, for the seed's message order).
    pub session: Option<SessionId>,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token: {0}")]
    Invalid(String),
}

#[derive(Clone)]
pub struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
}

impl Jwt {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Jwt {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        // `sid` is required by the claims type itself
        Jwt {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    pub fn issue(&self, user_id: UserId, session: SessionId) -> Result<String, TokenError> {
        let iat = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: SubjectId::Text(user_id.to_string()),
            sid: Some(session.to_string()),
            iat,
            exp: iat.saturating_add(i64::try_from(self.ttl_secs).unwrap_or(i64::MAX)),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// How long an access token lives.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn verify(&self, token: &str) -> Result<VerifiedClaims, TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let user_id = match data.claims.sub {
            SubjectId::Number(n) => n,
            SubjectId::Text(s) => s
                .parse()
                .map_err(|_| TokenError::Invalid("sub is not a user id".into()))?,
        };
        let session = data
            .claims
            .sid
            .map(|sid| sid.parse().map(SessionId))
            .transpose()
            .map_err(|_| TokenError::Invalid("sid is not a session id".into()))?;
        // jsonwebtoken accepts exp == now; the contract wants no leeway at all.
        if data.claims.exp <= chrono::Utc::now().timestamp() {
            return Err(TokenError::Invalid("expired".into()));
        }
        Ok(VerifiedClaims {
            user_id: UserId(user_id),
            session,
            exp: data.claims.exp,
        })
    }
}

/// The secret from the environment, or the one generated into DATA_DIR on first start
/// (owner-only permissions) and reused afterwards so tokens survive a restart.
pub fn load_or_create_secret(
    configured: Option<&str>,
    data_dir: &Path,
) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt_secret");
    match std::fs::read_to_string(&path) {
        Ok(existing) if !existing.trim().is_empty() => {
            return Ok(existing.trim().as_bytes().to_vec())
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut bytes = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(secret.into_bytes())
}

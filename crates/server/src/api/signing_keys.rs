//! `/api/v1/signing-keys`: the public halves of the server's signing keys (Ed25519 for licensd's client API
//! and license files, RSA for LicenseSpring's License API v4) and their rotation, as `licensd key show
//! [--rsa]` and `licensd key rotate [--ed25519] [--rsa]` do, for a dashboard or a script.

use axum::Json;
use axum::extract::State;
use licensd_core::access::Action;
use licensd_core::model::{SigningAlgorithm, SigningKey, SigningKeyRotation, SigningKeys};
use licensd_core::time::Timestamp;
use licensd_store::keys::{self, PublicKey};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, RawBody, parse_json};

/// A stored public key as the API shows it.
pub fn signing_key(k: &PublicKey) -> SigningKey {
    SigningKey {
        key_id: k.key_id.clone(),
        algorithm: k.algorithm,
        bits: k.bits,
        public_key: k.public_key.clone(),
        public_key_pem: k.pem(),
        active: k.active,
        created_at: Timestamp(k.created_at),
    }
}

/// Every signing key, Ed25519 and RSA, active and retired (the active one first in each list). Public
/// halves only; any token may read them.
#[utoipa::path(get, path = "/signing-keys", tag = "signing-keys", operation_id = "list_signing_keys",
    responses((status = 200, description = "OK", body = SigningKeys), crate::api::Common),
    security(("token" = [])))]
pub async fn list(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<SigningKeys>> {
    auth.read()?;
    let ed25519 = keys::public_keys_of(&s.db, SigningAlgorithm::Ed25519).await?;
    let rsa = keys::public_keys_of(&s.db, SigningAlgorithm::Rsa).await?;
    Ok(Json(SigningKeys {
        ed25519: ed25519.iter().map(signing_key).collect(),
        rsa: rsa.iter().map(signing_key).collect(),
    }))
}

/// Makes a new key of `algorithm` active (admins). The one before is retired, not deleted: what it signed
/// still verifies. This instance signs with the new key at once, every other one within 30 seconds.
/// Applications trust only the public keys they were built with: rotate when the key is compromised or an
/// update with the new key ships. Recorded as `signing_key.rotated`.
#[utoipa::path(post, path = "/signing-keys/rotate", tag = "signing-keys", operation_id = "rotate_signing_keys", request_body = SigningKeyRotation,
    responses((status = 200, description = "The new active key", body = SigningKey), crate::api::Common, crate::api::BodyErrors,
              (status = 403, description = "FORBIDDEN_ROLE: only an admin token may rotate a signing key", body = ErrorBody)),
    security(("token" = [])))]
pub async fn rotate(State(s): State<AppState>, auth: Auth, RawBody(body): RawBody) -> ApiResult<Json<SigningKey>> {
    let scope = auth.permit(&[Action::ManageTokens])?;
    let r: SigningKeyRotation = parse_json(&body)?;
    let key_id = match r.algorithm {
        SigningAlgorithm::Ed25519 => {
            if r.bits.is_some() {
                return Err(ApiError::invalid("bits", "an Ed25519 key has no size to choose; send bits only with rsa"));
            }
            keys::rotate_as(&s.db, s.secret.as_deref(), &scope).await?.key_id
        }
        SigningAlgorithm::Rsa => {
            // A rotation keeps the key's size unless told otherwise.
            let bits = r.bits.unwrap_or_else(|| s.rsa_key().bits());
            licensd_core::rsa::key_size(bits).map_err(|_| {
                ApiError::invalid("bits", format!("{bits} is not an RSA key size licensd makes: 2048, 3072 or 4096"))
            })?;
            keys::rotate_rsa_as(&s.db, s.secret.as_deref(), bits, &scope).await?.key_id
        }
    };
    tracing::info!(key_id = %key_id, algorithm = r.algorithm.as_str(), "signing key rotated over the management API");
    s.refresh_key().await?;
    let all = keys::public_keys_of(&s.db, r.algorithm).await?;
    let new = all.iter().find(|k| k.key_id == key_id).ok_or(licensd_store::StoreError::NotFound)?;
    Ok(Json(signing_key(new)))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(rotate))
}

//! Single sign-on with OpenID Connect: the authorization code flow with PKCE (the
//! `openidconnect` crate does the protocol: discovery, the token exchange, the ID token's
//! signature against the provider's JWKS, its issuer, audience, expiry and nonce).
//!
//! `GET /api/auth/oidc/start?next=/d/…` makes a state, a nonce and a PKCE verifier, keeps them in
//! a signed, HttpOnly, `SameSite=Lax` cookie that lives 10 minutes (Lax: the provider's redirect
//! back is a cross-site navigation) and sends the browser to the provider. The callback checks
//! the returned state against the cookie's, exchanges the code with the verifier and verifies the
//! ID token against the cookie's nonce. The account is the one with the token's email, which the
//! provider must say is verified (created on first sign-in where sign-up is open or the domain is
//! allowed); then a session starts as after a password login and the browser goes to `next`.
//! Every refusal goes back to the sign-in page with a message, never half signed in.

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::tokens::{unix_now, TokenKeys};
use crate::config::OidcSettings;

/// The cookie that carries a sign-in in progress.
pub const FLOW_COOKIE: &str = "tandem_oidc";
/// How long a sign-in may take at the provider.
pub const FLOW_TTL_SECS: u64 = 600;
const FLOW_AUDIENCE: &str = "tandem-oidc-flow";
/// Discovery is fetched again after this long (the provider may rotate its keys).
const METADATA_TTL_SECS: u64 = 3600;

/// What the browser holds between the start and the callback (signed, so it cannot be altered).
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    exp: u64,
    aud: String,
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub email: String,
    pub name: Option<String>,
}

pub struct Oidc {
    pub settings: OidcSettings,
    http: reqwest::Client,
    /// Discovery and keys, fetched on first use (a provider down at startup does not stop the
    /// server) and again after an hour.
    metadata: Mutex<Option<(u64, CoreProviderMetadata)>>,
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Oidc {
        let http = reqwest::Client::builder()
            // Following redirects would open the token exchange to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("a plain HTTP client builds");
        Oidc {
            settings,
            http,
            metadata: Mutex::new(None),
        }
    }

    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, String> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, m)) = cached.as_ref() {
            if !fresh && unix_now() < at + METADATA_TTL_SECS {
                return Ok(m.clone());
            }
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| e.to_string())?;
        let m = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| format!("the sign-in provider cannot be reached: {e}"))?;
        *cached = Some((unix_now(), m.clone()));
        Ok(m)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        String,
    > {
        let redirect =
            RedirectUrl::new(self.settings.redirect_url.clone()).map_err(|e| e.to_string())?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's address to send the browser to, and the signed flow for its cookie.
    pub async fn start(&self, keys: &TokenKeys, next: &str) -> Result<(String, String), String> {
        let client = self.client(self.metadata(false).await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let flow = Flow {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            next: next.to_owned(),
            exp: unix_now() + FLOW_TTL_SECS,
            aud: FLOW_AUDIENCE.into(),
        };
        Ok((url.to_string(), keys.sign_as(&flow)))
    }

    /// Checks the provider's answer against the flow the browser kept. Returns who signed in and
    /// where to go next.
    pub async fn finish(
        &self,
        keys: &TokenKeys,
        cookie: Option<&str>,
        code: &str,
        state: &str,
    ) -> Result<(Identity, String), String> {
        let flow: Flow = cookie
            .and_then(|c| keys.verify_as(c, FLOW_AUDIENCE))
            .ok_or("the sign-in took too long or was not started here: try again")?;
        // Compared in constant time: the state is what stops a forged callback.
        let same: bool = state.len() == flow.state.len()
            && state
                .bytes()
                .zip(flow.state.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err("the sign-in answer does not match the sign-in started here".into());
        }
        let client = self.client(self.metadata(false).await?)?;
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| e.to_string())?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()));
        let tokens = exchange
            .request_async(&self.http)
            .await
            .map_err(|e| format!("the sign-in provider refused the code: {e}"))?;
        let id_token = tokens
            .id_token()
            .ok_or("the sign-in provider sent no ID token")?;
        let nonce = Nonce::new(flow.nonce.clone());
        let verifier = client.id_token_verifier();
        let claims = match id_token.claims(&verifier, &nonce) {
            Ok(c) => c.clone(),
            // Perhaps the provider rotated its keys: fetch them again, once.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.client(self.metadata(true).await?)?;
                let verifier = client.id_token_verifier();
                id_token
                    .claims(&verifier, &nonce)
                    .map_err(|e| format!("the ID token is not valid: {e}"))?
                    .clone()
            }
            Err(e) => return Err(format!("the ID token is not valid: {e}")),
        };
        let email = claims
            .email()
            .map(|e| e.as_str().trim().to_lowercase())
            .ok_or("the sign-in provider did not share an email address")?;
        if claims.email_verified() != Some(true) {
            return Err("the sign-in provider has not verified this email address".into());
        }
        let domain = email.rsplit('@').next().unwrap_or_default();
        let allowed = &self.settings.allowed_domains;
        if !allowed.is_empty() && !allowed.iter().any(|d| d == domain) {
            return Err(format!("accounts at {domain} may not sign in here"));
        }
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned());
        Ok((Identity { email, name }, flow.next))
    }
}

/// A path on this site to return to (never another origin).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/d/abc?x=1")), "/d/abc?x=1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "d/abc"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn a_flow_verifies_only_unaltered_and_for_its_audience() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let flow = Flow {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            next: "/".into(),
            exp: unix_now() + 60,
            aud: FLOW_AUDIENCE.into(),
        };
        let signed = keys.sign_as(&flow);
        assert!(keys.verify_as::<Flow>(&signed, FLOW_AUDIENCE).is_some());
        assert!(keys.verify_as::<Flow>(&signed, "tandem").is_none());
        let mut forged = signed.clone();
        forged.pop();
        assert!(keys.verify_as::<Flow>(&forged, FLOW_AUDIENCE).is_none());
        let other = TokenKeys::new(b"another key, another server......");
        assert!(other.verify_as::<Flow>(&signed, FLOW_AUDIENCE).is_none());
        // An access token is not a flow.
        let access = keys.issue(1, "sid", unix_now(), unix_now() + 60);
        assert!(keys.verify_as::<Flow>(&access, FLOW_AUDIENCE).is_none());
    }
}

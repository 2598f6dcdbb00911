//! Passwords: argon2id with the crate's default parameters (19 MiB, two passes), hashed and
//! verified on blocking threads, a bounded number at a time, in work areas that are reused.
//!
//! Each hash needs its 19 MiB. Unbounded, 150 parallel logins took the process from 205 MB to
//! 2.9 GB, and the allocator kept it. So at most one hash per core runs at once; the rest wait
//! their turn for up to [`QUEUE_DEADLINE`] and are then answered 503 with `Retry-After`. The work
//! areas are allocated once, one per place, and reused: the cost is fixed whatever the load.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 1024;

/// How long a login waits for a free place before it is told to come back.
pub const QUEUE_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every place was taken for [`QUEUE_DEADLINE`].
    #[error("too many sign-ins at once: try again in a few seconds")]
    Busy,
    #[error("cannot hash the password: {0}")]
    Failed(String),
}

/// The bounded pool of hashing places.
pub struct Hasher {
    /// One permit per place: taken before a work area, so a waiting request holds no memory.
    places: Arc<Semaphore>,
    /// Work areas of [`Params::DEFAULT_M_COST`] blocks, made on first use, at most one a place.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Hasher {
    /// `places` hashes at once (the number of cores is the natural choice).
    pub fn new(places: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(places.max(1))),
            memory: Default::default(),
        }
    }

    /// One place per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// A PHC string (`$argon2id$v=19$…`).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |memory| {
            let salt: [u8; 16] = rand::random();
            let params = Params::default();
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            argon2id(params.clone())
                .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
                .map_err(|e| HashError::Failed(e.to_string()))?;
            let phc = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params)
                    .map_err(|e| HashError::Failed(e.to_string()))?,
                salt: Some(Salt::new(&salt).map_err(|e| HashError::Failed(e.to_string()))?),
                hash: Some(Output::new(&out).map_err(|e| HashError::Failed(e.to_string()))?),
            };
            Ok(phc.to_string())
        })
        .await
    }

    /// Verifies against a stored hash. With `None` (no such account) it still spends the same
    /// work on a dummy hash, so response times do not reveal which emails have accounts.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let real = stored.is_some();
        let phc = match stored {
            Some(s) => s,
            None => DUMMY.to_string(),
        };
        let matched = self
            .run(move |memory| Ok(matches(&password, &phc, memory)))
            .await?;
        Ok(matched && real)
    }

    /// Runs `f` on a blocking thread with a place and a work area.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut [Block]) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let place = tokio::time::timeout(QUEUE_DEADLINE, self.places.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .expect("the hashing places are never closed");
        let memory = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let taken = memory.lock().expect("hash memory poisoned").pop();
            let mut area =
                taken.unwrap_or_else(|| vec![Block::new(); Params::DEFAULT_M_COST as usize]);
            let result = f(&mut area);
            memory.lock().expect("hash memory poisoned").push(area);
            drop(place);
            result
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))?
    }

    /// Work areas allocated so far (at most one per place).
    pub fn areas(&self) -> usize {
        self.memory.lock().expect("hash memory poisoned").len()
    }
}

fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether `password` hashes to `phc`, computed in `memory`. A hash with parameters other than
/// ours (bigger than the work area) is computed in memory of its own.
fn matches(password: &str, phc: &str, memory: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    let mut own;
    let memory = if blocks <= memory.len() {
        &mut memory[..blocks]
    } else {
        own = vec![Block::new(); blocks];
        &mut own[..]
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, memory)
        .is_err()
    {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// A valid hash of nothing anyone knows, for logins to unknown emails.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$I7K9gAGvWb2SbnMbMnMQfhH0AXv8eT9hk6DO8Pzs8Uw";

pub fn check_strength(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return Err(format!(
            "the password must be at least {MIN_LENGTH} characters"
        ));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("the password must be at most {MAX_LENGTH} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = Hasher::new(2);
        let h = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        let ok = |p: &str, s: Option<String>| hasher.verify(p.into(), s);
        assert!(ok("correct horse battery", Some(h.clone())).await.unwrap());
        assert!(!ok("wrong", Some(h)).await.unwrap());
        assert!(!ok("", None).await.unwrap());
        assert!(PasswordHash::new(DUMMY).is_ok());
        // Hashes made by the crate's own hasher (every stored one so far) still verify.
        let old = Argon2::default()
            .hash_password(b"an older password")
            .unwrap()
            .to_string();
        assert!(ok("an older password", Some(old.clone())).await.unwrap());
        assert!(!ok("an older passworD", Some(old)).await.unwrap());
        // So do hashes with other costs, in memory of their own.
        let params = Params::new(32 * 1024, 1, 1, None).unwrap();
        let big = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"bigger")
            .unwrap()
            .to_string();
        assert!(ok("bigger", Some(big)).await.unwrap());
        assert!(hasher.areas() <= 2);
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_after_the_deadline_and_reuses_its_memory() {
        tokio::time::pause();
        let hasher = Hasher::new(1);
        // Holding the only place, as a long hash would.
        let held = hasher.places.clone().acquire_owned().await.unwrap();
        let waiting = hasher.verify("x".repeat(10), None);
        assert!(matches!(waiting.await, Err(HashError::Busy)));
        drop(held);
        for _ in 0..3 {
            hasher.verify("x".repeat(10), None).await.unwrap();
        }
        assert_eq!(hasher.areas(), 1, "one place, one work area, reused");
    }
}

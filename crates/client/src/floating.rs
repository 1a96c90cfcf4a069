//! Floating seats: a lease kept alive in the background.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::types::{CheckResult, License, LicenseRequest, LicenseResponse, unix_time};
use crate::{Client, Error};

/// The renewal interval when the license has no `floating_timeout`.
const FALLBACK_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Where a [`FloatingSeat`]'s lease stands, as of its last renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatStatus {
    /// The seat is held: the last activation or renewal was `VALID`.
    Held {
        /// When it was last renewed (or checked out).
        renewed_at: SystemTime,
        /// When the lease ends unless renewed again, as the server said.
        lease_expires_at: Option<SystemTime>,
    },
    /// The server says the seat is gone (`NO_SEAT`: it lapsed and every seat is taken; or
    /// `NOT_ACTIVATED`, `EXPIRED`, `DISABLED`, …). Renewal goes on, and the seat comes back as
    /// [`SeatStatus::Held`] if the server grants it again.
    Lost {
        /// The check's code.
        code: String,
        /// The server's explanation.
        detail: String,
    },
    /// The last renewal failed (the server could not be reached, or its answer did not verify).
    /// The lease lasts `floating_timeout` minutes from the last success; renewal goes on.
    RenewalFailed {
        /// When the renewal failed.
        at: SystemTime,
        /// Why.
        error: String,
    },
}

impl SeatStatus {
    fn after(result: &Result<CheckResult, Error>) -> SeatStatus {
        match result {
            Ok(r) if r.valid => SeatStatus::Held {
                renewed_at: SystemTime::now(),
                lease_expires_at: r.device.as_ref().and_then(|d| d.lease_expires_at).map(unix_time),
            },
            Ok(r) => SeatStatus::Lost { code: r.code.clone(), detail: r.detail.clone() },
            Err(e) => SeatStatus::RenewalFailed { at: SystemTime::now(), error: e.to_string() },
        }
    }

    /// `true` for [`SeatStatus::Held`].
    pub fn is_held(&self) -> bool {
        matches!(self, SeatStatus::Held { .. })
    }
}

/// A checked-out floating seat ([`Client::checkout`]), renewed in the background.
///
/// A tokio task calls `check` every `interval` (half the license's `floating_timeout` unless the
/// client sets [`ClientBuilder::heartbeat_interval`](crate::ClientBuilder::heartbeat_interval)), which
/// renews the lease; [`FloatingSeat::status`] and [`FloatingSeat::watch`] tell how the last renewal
/// went. [`FloatingSeat::release`] stops the task and gives the seat back (`deactivate`). Dropping
/// the seat stops the task without telling the server: the seat then frees itself when its lease
/// lapses, `floating_timeout` minutes later.
///
/// ```no_run
/// # async fn run(client: licensd_client::Client, req: licensd_client::LicenseRequest) -> Result<(), licensd_client::Error> {
/// let seat = client.checkout(&req).await?;
/// let mut status = seat.watch();
/// tokio::spawn(async move {
///     while status.changed().await.is_ok() {
///         if !status.borrow().is_held() {
///             eprintln!("the floating seat is not held: {:?}", *status.borrow());
///         }
///     }
/// });
/// // … work …
/// seat.release().await?;
/// # Ok(()) }
/// ```
pub struct FloatingSeat {
    client: Client,
    request: LicenseRequest,
    activation: LicenseResponse,
    interval: Duration,
    status: Arc<watch::Sender<SeatStatus>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for FloatingSeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloatingSeat")
            .field("license_key", &self.request.license_key)
            .field("hardware_id", &self.request.hardware_id)
            .field("interval", &self.interval)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

/// Half of `floating_timeout` minutes.
fn lease_interval(floating_timeout_minutes: i64) -> Duration {
    match u64::try_from(floating_timeout_minutes) {
        Ok(m) if m > 0 => Duration::from_secs(m.saturating_mul(30)),
        _ => FALLBACK_INTERVAL,
    }
}

impl FloatingSeat {
    pub(crate) fn start(
        client: Client,
        request: LicenseRequest,
        activation: LicenseResponse,
        runtime: &tokio::runtime::Handle,
    ) -> FloatingSeat {
        let interval =
            client.heartbeat_interval().unwrap_or_else(|| lease_interval(activation.license.floating_timeout));
        let initial = SeatStatus::Held {
            renewed_at: SystemTime::now(),
            lease_expires_at: activation.device.as_ref().and_then(|d| d.lease_expires_at).map(unix_time),
        };
        let status = Arc::new(watch::Sender::new(initial));
        let task = runtime.spawn(renew(client.clone(), request.clone(), interval, status.clone()));
        FloatingSeat { client, request, activation, interval, status, task: Some(task) }
    }

    /// Renews the lease now (`check`), as the background task does, and returns the verdict.
    pub async fn heartbeat(&self) -> Result<CheckResult, Error> {
        let result = self.client.check_online(&self.request).await;
        self.status.send_replace(SeatStatus::after(&result));
        result
    }

    /// How the last renewal went.
    pub fn status(&self) -> SeatStatus {
        self.status.borrow().clone()
    }

    /// `true` when the last renewal (or the checkout) held the seat.
    pub fn is_held(&self) -> bool {
        self.status.borrow().is_held()
    }

    /// A receiver that sees every renewal's [`SeatStatus`] (`changed().await`).
    pub fn watch(&self) -> watch::Receiver<SeatStatus> {
        self.status.subscribe()
    }

    /// The `activate` answer that checked the seat out.
    pub fn activation(&self) -> &LicenseResponse {
        &self.activation
    }

    /// The license, as of the checkout.
    pub fn license(&self) -> &License {
        &self.activation.license
    }

    /// The request the seat renews with.
    pub fn request(&self) -> &LicenseRequest {
        &self.request
    }

    /// How often the lease is renewed.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Stops renewing and gives the seat back (`deactivate`).
    pub async fn release(mut self) -> Result<LicenseResponse, Error> {
        self.stop();
        self.client.deactivate(&self.request).await
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for FloatingSeat {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn renew(client: Client, request: LicenseRequest, interval: Duration, status: Arc<watch::Sender<SeatStatus>>) {
    loop {
        tokio::time::sleep(interval).await;
        let result = client.check_online(&request).await;
        status.send_replace(SeatStatus::after(&result));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::TestKey;
    use crate::mock::{Mock, Reply};
    use serde_json::{Value, json};
    use std::sync::atomic::{AtomicBool, Ordering};

    fn req() -> LicenseRequest {
        LicenseRequest::new("FLOAT-1", "hw-f", "app")
    }

    /// A floating server: the seat is held until `lose` is set.
    fn server(key: Arc<TestKey>, lose: Arc<AtomicBool>) -> Mock {
        Mock::start(move |path, b| {
            let nonce = b.get("nonce").cloned().unwrap_or(Value::Null);
            let license = json!({"license_key": "FLOAT-1", "product": "app", "is_floating_cloud": true, "floating_users": 2, "floating_timeout": 10});
            let device = json!({"id": 1, "hardware_id": "hw-f", "lease_expires_at": 1764048600});
            let body = match path {
                "/api/v1/client/activate" => {
                    json!({"code": "ACTIVATED", "license": license, "device": device, "nonce": nonce})
                }
                "/api/v1/client/check" if lose.load(Ordering::SeqCst) => {
                    json!({"valid": false, "code": "NO_SEAT", "detail": "every seat is taken", "nonce": nonce})
                }
                "/api/v1/client/check" => {
                    json!({"valid": true, "code": "VALID", "detail": "", "license": license, "device": device, "nonce": nonce})
                }
                "/api/v1/client/deactivate" => json!({"code": "DEACTIVATED", "license": license, "nonce": nonce}),
                _ => json!({}),
            };
            Reply::bound(&key, 200, body)
        })
    }

    fn count(mock: &Mock, endpoint: &str) -> usize {
        mock.calls().iter().filter(|(p, _)| p.ends_with(endpoint)).count()
    }

    fn client(mock: &Mock, key: &TestKey, interval: Duration) -> Client {
        Client::builder(&mock.url, &key.public)
            .heartbeat_interval(interval)
            .clock_guard(crate::ClockGuard::in_memory())
            .build()
            .unwrap()
    }

    #[test]
    fn the_interval_is_half_the_floating_timeout() {
        assert_eq!(lease_interval(10), Duration::from_secs(300));
        assert_eq!(lease_interval(1), Duration::from_secs(30));
        assert_eq!(lease_interval(0), FALLBACK_INTERVAL);
        assert_eq!(lease_interval(-3), FALLBACK_INTERVAL);
    }

    #[tokio::test]
    async fn a_seat_renews_in_the_background_and_release_deactivates() {
        let key = Arc::new(TestKey::new());
        let lose = Arc::new(AtomicBool::new(false));
        let mock = server(key.clone(), lose.clone());
        let c = client(&mock, &key, Duration::from_millis(40));
        let seat = c.checkout(&req()).await.unwrap();
        assert!(seat.is_held());
        assert_eq!(seat.interval(), Duration::from_millis(40));
        assert!(seat.license().is_floating_cloud);
        // At least three renewals (each a new connection to the mock: allow a loaded machine its time).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while count(&mock, "/check") < 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(count(&mock, "/check") >= 3, "{:?}", mock.calls());
        assert!(seat.is_held());

        // The seat lapses on the server: the next renewal says so.
        let mut rx = seat.watch();
        lose.store(true, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| !s.is_held())).await.unwrap().unwrap();
        assert_eq!(seat.status(), SeatStatus::Lost { code: "NO_SEAT".into(), detail: "every seat is taken".into() });
        lose.store(false, Ordering::SeqCst);
        assert!(seat.heartbeat().await.unwrap().valid);
        assert!(seat.is_held());

        let r = seat.release().await.unwrap();
        assert_eq!(r.code, "DEACTIVATED");
        let checks = count(&mock, "/check");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(count(&mock, "/check"), checks, "renewal goes on after release");
        assert_eq!(count(&mock, "/deactivate"), 1);
    }

    #[tokio::test]
    async fn dropping_a_seat_stops_renewal_without_deactivating() {
        let key = Arc::new(TestKey::new());
        let mock = server(key.clone(), Arc::default());
        let c = client(&mock, &key, Duration::from_millis(30));
        let seat = c.checkout(&req()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(seat);
        // A renewal in flight when the seat dropped may still land.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let checks = count(&mock, "/check");
        assert!(checks >= 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(count(&mock, "/check"), checks);
        assert_eq!(count(&mock, "/deactivate"), 0);
    }

    #[tokio::test]
    async fn a_failed_renewal_is_reported() {
        let key = Arc::new(TestKey::new());
        let mock = server(key.clone(), Arc::default());
        let c = client(&mock, &key, Duration::from_millis(30));
        let seat = c.checkout(&req()).await.unwrap();
        let mut rx = seat.watch();
        drop(mock); // the server goes away
        tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| matches!(s, SeatStatus::RenewalFailed { .. })))
            .await
            .unwrap()
            .unwrap();
        assert!(!seat.is_held());
    }

    #[test]
    fn checkout_needs_a_runtime_before_activating() {
        let key = TestKey::new();
        let c = Client::new("http://127.0.0.1:9", &key.public).unwrap();
        // Polled outside any tokio runtime: a configuration error, and no request is sent.
        let r = poll_without_runtime(c.checkout(&req()));
        assert!(matches!(r, Err(Error::Config(_))), "{r:?}");
    }

    /// Polls a future to completion on this thread, without a runtime (enough for one that fails
    /// before awaiting anything).
    fn poll_without_runtime<F: std::future::Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::yield_now();
        }
    }
}

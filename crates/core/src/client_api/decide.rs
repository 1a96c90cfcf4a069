//! The client API's limit decisions, as pure functions over plain facts: activation slots, floating seats,
//! transfers, consumption with overages, borrowing. The store reads the facts inside the transaction that
//! holds the license's lock, asks here, and writes what was decided; every surface (the client API, DevMate's
//! `/v2`, LicenseSpring's `/api/v4`) goes through the same rules. Nothing here does I/O or can fail otherwise.

use crate::client_api::Refusal;

/// A new node-locked activation: refused once `times_activated` has reached `max_activations` (`None`:
/// unlimited). A device already active takes no second slot, so the store asks only for a new device.
pub fn activation_slot(max_activations: Option<i64>, times_activated: i64) -> Result<(), Refusal> {
    match max_activations {
        Some(max) if times_activated >= max => Err(Refusal::TooManyActivations { max }),
        _ => Ok(()),
    }
}

/// A floating seat for a device, while `held_by_others` live leases or borrowings of other devices exist.
/// `max_activations` and `max_transfers` do not apply to seats.
pub fn seat(floating_users: i64, held_by_others: i64) -> Result<(), Refusal> {
    if held_by_others >= floating_users { Err(Refusal::NoSeat { seats: floating_users }) } else { Ok(()) }
}

/// What decides whether an active device may deactivate itself (`deactivate`, `offline-deactivate`).
#[derive(Debug, Clone, Copy)]
pub struct Deactivation {
    pub floating: bool,
    /// `0`: unlimited.
    pub max_transfers: i64,
    pub transfer_count: i64,
    /// The latest of the device's license file expiry and its borrowing (UTC ms), if any.
    pub held_until: Option<i64>,
}

/// Whether the device may deactivate now, and if so whether it counts as a transfer (node-locked devices
/// only; a floating seat released is not a move). A device holding a license file or a borrowed seat that is
/// still valid keeps its slot (`FileOutstanding`, checked first); a node-locked one that has used its
/// `max_transfers` moves is refused (`TransferLimit`).
pub fn deactivation(d: Deactivation, now_ms: i64) -> Result<bool, Refusal> {
    if let Some(until) = d.held_until.filter(|&t| t > now_ms) {
        return Err(Refusal::FileOutstanding { until: until.div_euclid(1000) });
    }
    if !d.floating && d.max_transfers > 0 && d.transfer_count >= d.max_transfers {
        return Err(Refusal::TransferLimit { max: d.max_transfers });
    }
    Ok(!d.floating)
}

/// A consumption counter: the license's own, or a feature's.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    /// `0`: nothing may be consumed, unless overages are allowed.
    pub max: i64,
    pub total: i64,
    pub allow_overages: bool,
    /// Ignored unless `allow_overages`.
    pub max_overages: i64,
}

impl Counter {
    /// The most the counter may reach: `max`, plus `max_overages` when overages are allowed.
    pub fn limit(&self) -> i64 {
        self.max.saturating_add(if self.allow_overages { self.max_overages } else { 0 })
    }
}

/// Adding `n` (≥ 1) to a counter: the new total, or `ConsumptionLimit` (and nothing added) past its limit.
pub fn consume(c: Counter, n: i64) -> Result<i64, Refusal> {
    let limit = c.limit();
    match c.total.checked_add(n) {
        Some(t) if t <= limit => Ok(t),
        _ => Err(Refusal::ConsumptionLimit { limit, total: c.total }),
    }
}

/// Borrowing a floating seat for `hours`: only floating licenses that allow it (`BorrowNotAllowed`), for 1
/// to `max_borrow_time` hours (else `400 INVALID_FIELD` on `borrow_hours`).
pub fn borrow(floating: bool, can_borrow: bool, hours: i64, max_borrow_time: i64) -> Result<(), BorrowRefused> {
    if !floating || !can_borrow {
        return Err(BorrowRefused::Refusal(Refusal::BorrowNotAllowed));
    }
    if !(1..=max_borrow_time).contains(&hours) {
        return Err(BorrowRefused::Invalid(crate::Error::invalid(
            "borrow_hours",
            format!("must be between 1 and {max_borrow_time} (the license's max_borrow_time)"),
        )));
    }
    Ok(())
}

/// Why a borrow is refused: a client refusal, or a request whose `borrow_hours` is out of range.
#[derive(Debug)]
pub enum BorrowRefused {
    Refusal(Refusal),
    Invalid(crate::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn activation_slots_run_out_at_the_limit() {
        for (max, used, ok) in [(None, 1_000_000, true), (Some(0), 0, false), (Some(2), 1, true), (Some(2), 2, false)] {
            assert_eq!(activation_slot(max, used).is_ok(), ok, "{max:?} {used}");
        }
        assert_eq!(activation_slot(Some(3), 3), Err(Refusal::TooManyActivations { max: 3 }));
    }

    #[test]
    fn seats_run_out_when_others_hold_them_all() {
        assert_eq!(seat(2, 1), Ok(()));
        assert_eq!(seat(2, 2), Err(Refusal::NoSeat { seats: 2 }));
        assert_eq!(seat(0, 0), Err(Refusal::NoSeat { seats: 0 }));
    }

    #[test]
    fn deactivation_keeps_outstanding_files_then_counts_transfers() {
        let d = Deactivation { floating: false, max_transfers: 2, transfer_count: 1, held_until: None };
        assert_eq!(deactivation(d, 0), Ok(true));
        assert_eq!(deactivation(Deactivation { transfer_count: 2, ..d }, 0), Err(Refusal::TransferLimit { max: 2 }));
        assert_eq!(
            deactivation(Deactivation { max_transfers: 0, transfer_count: 99, ..d }, 0),
            Ok(true),
            "0: no limit"
        );
        assert_eq!(
            deactivation(Deactivation { floating: true, transfer_count: 2, ..d }, 0),
            Ok(false),
            "seats move freely"
        );
        let held = Deactivation { held_until: Some(5_000), transfer_count: 2, ..d };
        assert_eq!(deactivation(held, 4_999), Err(Refusal::FileOutstanding { until: 5 }), "the file first");
        assert_eq!(deactivation(held, 5_000), Err(Refusal::TransferLimit { max: 2 }), "a lapsed file holds nothing");
    }

    #[test]
    fn consumption_stops_at_the_limit_plus_allowed_overages() {
        let c = Counter { max: 10, total: 8, allow_overages: false, max_overages: 5 };
        assert_eq!(consume(c, 2), Ok(10));
        assert_eq!(consume(c, 3), Err(Refusal::ConsumptionLimit { limit: 10, total: 8 }));
        let over = Counter { allow_overages: true, ..c };
        assert_eq!(consume(over, 7), Ok(15));
        assert_eq!(consume(over, 8), Err(Refusal::ConsumptionLimit { limit: 15, total: 8 }));
        assert_eq!(
            consume(Counter { max: 0, total: 0, ..c }, 1),
            Err(Refusal::ConsumptionLimit { limit: 0, total: 0 })
        );
        let huge = Counter { max: i64::MAX, total: i64::MAX - 1, allow_overages: true, max_overages: i64::MAX };
        assert_eq!(huge.limit(), i64::MAX);
        assert_eq!(consume(huge, 1), Ok(i64::MAX));
        assert!(consume(huge, 2).is_err(), "an overflow is refused, never wrapped");
    }

    #[test]
    fn borrowing_needs_a_floating_license_that_allows_it_and_hours_in_range() {
        assert!(borrow(true, true, 1, 24).is_ok());
        assert!(borrow(true, true, 24, 24).is_ok());
        assert!(matches!(borrow(false, true, 1, 24), Err(BorrowRefused::Refusal(Refusal::BorrowNotAllowed))));
        assert!(matches!(borrow(true, false, 1, 24), Err(BorrowRefused::Refusal(Refusal::BorrowNotAllowed))));
        for hours in [0, 25, -1] {
            assert!(matches!(borrow(true, true, hours, 24), Err(BorrowRefused::Invalid(_))), "{hours}");
        }
    }

    /// One step a client may take against a license.
    #[derive(Debug, Clone)]
    enum Step {
        Activate(u8),
        Deactivate(u8),
        Consume(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..6).prop_map(Step::Activate),
            (0u8..6).prop_map(Step::Deactivate),
            (1i64..8).prop_map(Step::Consume),
        ]
    }

    proptest! {
        /// However requests come, what the rules allow never passes a limit: active devices stay within
        /// `max_activations` (node-locked) or `floating_users` (floating), transfers within `max_transfers`,
        /// and the counter within its limit plus allowed overages.
        #[test]
        fn no_sequence_of_decisions_exceeds_a_limit(
            floating in any::<bool>(),
            max_activations in proptest::option::of(0i64..4),
            seats in 0i64..4,
            max_transfers in 0i64..4,
            counter in (0i64..20, any::<bool>(), 0i64..10),
            steps in proptest::collection::vec(step(), 0..60),
        ) {
            let mut active: Vec<u8> = Vec::new();
            let (mut times_activated, mut transfers) = (0i64, 0i64);
            let mut c = Counter { max: counter.0, total: 0, allow_overages: counter.1, max_overages: counter.2 };
            for s in steps {
                match s {
                    Step::Activate(d) if !active.contains(&d) => {
                        let ok = if floating {
                            seat(seats, i64::try_from(active.len()).unwrap()).is_ok()
                        } else {
                            activation_slot(max_activations, times_activated).is_ok()
                        };
                        if ok {
                            active.push(d);
                            times_activated += 1;
                        }
                    }
                    Step::Activate(_) => {}
                    Step::Deactivate(d) if active.contains(&d) => {
                        let facts = Deactivation { floating, max_transfers, transfer_count: transfers, held_until: None };
                        if let Ok(counts) = deactivation(facts, 0) {
                            active.retain(|x| *x != d);
                            times_activated -= 1;
                            transfers += i64::from(counts);
                        }
                    }
                    Step::Deactivate(_) => {}
                    Step::Consume(n) => {
                        if let Ok(t) = consume(c, n) {
                            c.total = t;
                        }
                    }
                }
                let n = i64::try_from(active.len()).unwrap();
                if floating {
                    prop_assert!(n <= seats);
                } else if let Some(max) = max_activations {
                    prop_assert!(n <= max);
                }
                if max_transfers > 0 {
                    prop_assert!(transfers <= max_transfers);
                }
                prop_assert!(c.total <= c.limit());
            }
        }
    }
}

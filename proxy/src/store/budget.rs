//! The budget of profiles created for addresses nobody has: an opt-out by
//! email needs no sign-in, so anyone may name any address, and each
//! unknown one would otherwise become a permanent profile in Campaign.
//!
//! One row counts creations per hour and per day, each window starting at
//! the first creation after the last one ended; one statement takes a place
//! in both or in neither, so replicas sharing PostgreSQL never exceed them
//! together. A creation past the budget is not dropped: its row is held
//! ([`super::Hold::Budget`]) and released as the budget has room, or by an
//! operator.

use sqlx::Row;

use super::engine::sql;
use super::pending::Claim;
use super::{Result, Store};

/// How many profiles may be created for addresses nobody has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// In an hour.
    pub per_hour: u32,
    /// In a day.
    pub per_day: u32,
}

impl Store {
    /// Takes a place in `budget` for `claim`'s creation and marks its row
    /// as holding one (its retries take no other), in one transaction.
    /// `false`: the budget has no room (or the claim lost its lease), and
    /// nothing was taken.
    pub async fn reserve_creation(&self, claim: &Claim, budget: Budget) -> Result<bool> {
        let d = self.db.dialect;
        let mut tx = self.db.pool.begin().await?;
        // The clock read once: PostgreSQL's changes within a statement.
        let taken = sqlx::query(sql!(
            d,
            "WITH clock AS (SELECT {now} AS now) UPDATE creation_budget SET \
             hour_start = CASE WHEN hour_start <= (SELECT now FROM clock) - 3600000 \
               THEN (SELECT now FROM clock) ELSE hour_start END, \
             hour_used = CASE WHEN hour_start <= (SELECT now FROM clock) - 3600000 \
               THEN 1 ELSE hour_used + 1 END, \
             day_start = CASE WHEN day_start <= (SELECT now FROM clock) - 86400000 \
               THEN (SELECT now FROM clock) ELSE day_start END, \
             day_used = CASE WHEN day_start <= (SELECT now FROM clock) - 86400000 \
               THEN 1 ELSE day_used + 1 END \
             WHERE id = 1 \
             AND (hour_start <= (SELECT now FROM clock) - 3600000 OR hour_used < $1) \
             AND (day_start <= (SELECT now FROM clock) - 86400000 OR day_used < $2) \
             AND $1 > 0 AND $2 > 0"
        ))
        .bind(i64::from(budget.per_hour))
        .bind(i64::from(budget.per_day))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let marked = taken
            && sqlx::query(
                "UPDATE pending_change SET hold = 'reserved' \
                 WHERE profile_key = $1 AND choice = $2 AND lease_token = $3",
            )
            .bind(claim.row_key.as_str())
            .bind(claim.choice.as_str())
            .bind(claim.lease.0.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
        if marked {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(marked)
    }

    /// How many more creations `budget` allows now, less those released
    /// already and not yet attempted.
    pub async fn creation_room(&self, budget: Budget) -> Result<u32> {
        let row = sqlx::query(sql!(
            self.db.dialect,
            "SELECT CASE WHEN hour_start <= {now} - 3600000 THEN 0 ELSE hour_used END AS hour, \
             CASE WHEN day_start <= {now} - 86400000 THEN 0 ELSE day_used END AS day, \
             (SELECT COUNT(*) FROM pending_change WHERE lane = 'create' AND hold IS NULL) \
             AS released FROM creation_budget WHERE id = 1"
        ))
        .fetch_one(&self.db.pool)
        .await?;
        let left = |max: u32, used: i64| i64::from(max) - used;
        let room = left(budget.per_hour, row.try_get("hour")?)
            .min(left(budget.per_day, row.try_get("day")?))
            - row.try_get::<i64, _>("released")?;
        Ok(u32::try_from(room.max(0)).unwrap_or(u32::MAX))
    }

    /// Makes up to `room` creations held for the budget due, the longest
    /// waiting first; returns how many. Each takes its place when its
    /// attempt comes (another may have taken it meanwhile: then it is held
    /// again).
    pub async fn release_held(&self, room: u32) -> Result<u64> {
        Ok(sqlx::query(sql!(
            self.db.dialect,
            "UPDATE pending_change SET hold = NULL, turn = 0, next_attempt_at = {now} \
             WHERE (profile_key, choice) IN (SELECT profile_key, choice FROM pending_change \
               WHERE hold = 'budget' ORDER BY pending_since LIMIT $1 {skip_locked})"
        ))
        .bind(i64::from(room))
        .execute(&self.db.pool)
        .await?
        .rows_affected())
    }

    /// Lets every creation held for the budget through, at once and
    /// whatever the budget says: an operator's decision. Returns how many.
    pub async fn release_all_held(&self) -> Result<u64> {
        Ok(sqlx::query(sql!(
            self.db.dialect,
            "UPDATE pending_change SET hold = 'released', turn = 0, next_attempt_at = {now} \
             WHERE hold = 'budget'"
        ))
        .execute(&self.db.pool)
        .await?
        .rows_affected())
    }
}

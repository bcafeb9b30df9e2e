//! Enrolling an authenticator app: a new secret, sealed, and its QR code;
//! then the confirming code, which makes the recovery codes.

use app::error::AppError;
use app::model::{RecoveryCodes, TotpEnrolment};

use super::seal_context;
use crate::appliance::Appliance;
use crate::appliance::errors::{internal, store_err};
use crate::auth::totp;
use crate::store::audit::Audit;
use crate::store::{now, second_factors, settings};

impl Appliance {
    /// Starts enrolling an authenticator app for the account.
    pub(super) async fn begin_totp_for(
        &self,
        user_id: i64,
        username: &str,
        record: Audit,
    ) -> Result<TotpEnrolment, AppError> {
        let secret = totp::new_secret();
        let sealed = self
            .secrets
            .seal(&secret, &seal_context(user_id))
            .map_err(|e| internal(&e))?;
        let (begun, issuer) = self
            .store
            .write(move |tx| {
                let begun = second_factors::begin_totp(tx, user_id, &sealed)?;
                Ok((begun, settings::get(tx, settings::APPLIANCE_NAME)?))
            })
            .await
            .map_err(store_err)?;
        if !begun {
            return Err(AppError::Conflict(
                "an authenticator app is already enrolled: remove it first".into(),
            ));
        }
        let issuer = issuer.unwrap_or_else(|| "dpe".to_owned());
        let otpauth_uri = totp::uri(&secret, &issuer, username).map_err(|e| internal(&e))?;
        let qr_code = totp::qr_data_url(&otpauth_uri).ok_or(AppError::Internal)?;
        self.audit(record.action("second_factor.totp.begin").ok())
            .await;
        Ok(TotpEnrolment {
            secret,
            otpauth_uri,
            qr_code,
        })
    }

    /// Confirms the account's pending enrolment with `code`; answers its
    /// new recovery codes.
    pub(super) async fn confirm_totp_for(
        &self,
        user_id: i64,
        code: &str,
        record: Audit,
    ) -> Result<RecoveryCodes, AppError> {
        let row = self
            .store
            .read(move |c| second_factors::totp(c, user_id))
            .await
            .map_err(store_err)?;
        let Some(row) = row.filter(|r| r.confirmed_at.is_none()) else {
            return Err(AppError::Conflict(
                "no enrolment is waiting for its code: start one first".into(),
            ));
        };
        let secret = self.open_secret(user_id, &row.sealed_secret)?;
        let at = now();
        let step = totp::verify(&secret, code, u64::try_from(at).unwrap_or(0), None)
            .map_err(|e| internal(&e))?
            .ok_or_else(|| AppError::invalid("code", "wrong code: check the app's clock"))?;
        let confirmed = self
            .store
            .write(move |tx| second_factors::confirm_totp(tx, user_id, step, at))
            .await
            .map_err(store_err)?;
        if !confirmed {
            return Err(AppError::Conflict(
                "the enrolment was confirmed already".into(),
            ));
        }
        let codes = self.new_recovery_codes(user_id).await?;
        let record = record
            .action("second_factor.totp.enrol")
            .detail("authenticator app enrolled; ten recovery codes made")
            .ok();
        self.audit(record).await;
        Ok(codes)
    }
}

//! How settings are shown in logs and errors.

use std::fmt;

use super::{mask_password, S3Settings, Settings};

// Secrets never reach a log: Debug masks the password in DATABASE_URL and the S3 secret key.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("database_url", &self.database_url.as_deref().map(mask_password))
            .field("s3", &self.s3)
            .field("limits", &self.limits)
            .field("scrub_concurrency", &self.scrub_concurrency)
            .field("memory_budget_mib", &self.memory_budget_mib)
            .field("sweep_grace", &self.sweep_grace)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("public_url", &self.public_url)
            .field("maintenance_interval", &self.maintenance_interval)
            .field("takedown_overdue_after", &self.takedown_overdue_after)
            .field("rules", &self.rules)
            .field("connections", &self.connections)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("mail", &self.mail)
            .field("requests", &self.requests)
            .field("retention", &self.retention)
            .field(
                "consent_form",
                &format_args!("{} purposes, hash {}", self.consent_form.purposes.len(), self.consent_form.hash()),
            )
            .finish()
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "***"))
            .field("path_style", &self.path_style)
            .finish()
    }
}

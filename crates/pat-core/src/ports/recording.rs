//! `RecordingNotifier`: the [`Notifier`] test double, beside its trait (behind the
//! `test-doubles` feature): it keeps every notice it is given and can be told to fail.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use super::{Notifier, NotifyError};
use crate::model::Notice;

/// A notifier that keeps every notice, and can be told to fail: a test double.
#[derive(Default)]
pub struct RecordingNotifier {
    sent: Mutex<Vec<Notice>>,
    failing: Mutex<Option<NotifyError>>,
}

impl RecordingNotifier {
    /// The notices delivered so far.
    pub fn sent(&self) -> Vec<Notice> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// From now on, fail every delivery with `error` (`None` to deliver again).
    pub fn fail_with(&self, error: Option<NotifyError>) {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner) = error;
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        if let Some(error) = self
            .failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Err(error);
        }
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notice.clone());
        Ok(())
    }
}

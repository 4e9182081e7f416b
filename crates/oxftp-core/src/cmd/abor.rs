//! ABOR (RFC 959 4.1.3): abort the running transfer.
//!
//! Wire format: `ABOR` (often after Telnet IAC IP, IAC DM "Synch") → with a
//! transfer running: 426 (transfer aborted) then 226 (abort successful);
//! without one: 226. Any prepared passive listener is closed too.

use oxftp_proto::reply::Reply;

use crate::session::{Flow, Session};

impl Session {
    pub(crate) async fn cmd_abor(&mut self) -> Flow {
        self.data = None;
        self.rest = 0;
        if let Some(running) = self.running.take() {
            if running.task.is_finished() {
                // It ended before we got here: report how, then the ABOR itself.
                self.running = Some(running);
                self.finish_transfer(None).await;
            } else {
                let crate::session::Running { task, progress, what, path, started, .. } = running;
                task.abort();
                // Wait for the task to unwind so its data socket and storage handles are closed.
                let _ = task.await;
                self.send(&Reply::new(426, "Connection closed; transfer aborted.")).await;
                let bytes = progress.load(std::sync::atomic::Ordering::Relaxed);
                self.log_transfer(what, &path, started, "aborted", bytes);
            }
        }
        self.reply(226, "ABOR successful.").await;
        Flow::Continue
    }
}

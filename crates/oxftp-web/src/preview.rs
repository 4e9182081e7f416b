//! Inline PDF previews, served from an origin of their own.
//!
//! A browser's PDF viewer runs in the origin that served the PDF, whatever
//! `Content-Security-Policy: sandbox` says, so a PDF shown by the app's own
//! origin could act there. PDFs are therefore only ever shown inline by a
//! second listener ([`WebServer::serve_preview`](crate::WebServer::serve_preview)):
//! the same host on another port, which browsers keep apart from the app
//! (another origin: no access to its pages, storage or answers). It serves
//! one route, `/p/{ticket}/{name}`, and nothing else: no pages, no script,
//! no cookie of its own, no state-changing request.
//!
//! A ticket is a random 256-bit name for one file of one session, made when
//! the logged-in user asks the app for a preview (`/preview/{path}`, which
//! redirects there) and good for [`TICKET_TIME`] (a viewer fetches ranges of
//! a big PDF as it scrolls), and only while that session lives. The app's
//! cookies are HttpOnly, and its forms and API check their CSRF token and
//! `Origin`, so a PDF running in the preview origin can neither read the
//! app nor act as the user there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::WebError;
use crate::session::{Session, random_token};

/// How long a preview ticket works.
pub const TICKET_TIME: Duration = Duration::from_secs(10 * 60);
/// Most tickets held at once.
pub const MAX_TICKETS: usize = 4096;

struct Ticket {
    session: Arc<Session>,
    path: String,
    expires: Instant,
}

/// The live preview tickets.
#[derive(Default)]
pub(crate) struct Previews {
    tickets: Mutex<HashMap<String, Ticket>>,
}

impl std::fmt::Debug for Previews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Previews").finish()
    }
}

impl Previews {
    /// A ticket for `path` in `session`.
    pub(crate) fn issue(&self, session: Arc<Session>, path: &str) -> Result<String, WebError> {
        let busy = || WebError::Unavailable("too many previews open; try again shortly".into());
        let id = random_token().ok_or_else(busy)?;
        let now = Instant::now();
        let mut tickets = self.tickets.lock().map_err(|_| busy())?;
        tickets.retain(|_, t| t.expires > now);
        if tickets.len() >= MAX_TICKETS {
            return Err(busy());
        }
        tickets.insert(id.clone(), Ticket { session, path: path.to_string(), expires: now + TICKET_TIME });
        Ok(id)
    }

    /// The session and path of a live ticket.
    pub(crate) fn get(&self, id: &str) -> Option<(Arc<Session>, String)> {
        let tickets = self.tickets.lock().ok()?;
        let t = tickets.get(id).filter(|t| t.expires > Instant::now())?;
        Some((t.session.clone(), t.path.clone()))
    }
}

//! The archive: the listing of every segment of a stream (not its media, which the caller
//! keeps wherever it writes files), so that a live rendition can end as a VOD playlist of
//! the whole broadcast (RFC 8216 4.3.3.5, `EXT-X-PLAYLIST-TYPE:VOD`) rendered by the same
//! code as its live playlist.

use super::segment::Segment;
use super::Packager;
use crate::error::Error;

impl Packager {
    /// Keeps the listing of a segment that just closed, within the limit.
    pub(super) fn archive_segment(&mut self, segment: &Segment) {
        let limit = self.config.archive_limit;
        if limit == 0 || self.archive_full {
            return;
        }
        if self.archive.len() >= limit {
            self.archive_full = true;
            self.archive = Default::default();
            return;
        }
        let first = self.archive.is_empty();
        self.archive.push_back(Segment {
            parts: Vec::new(),
            // a recording starts with its first segment, not after a discontinuity
            discontinuity: segment.discontinuity && !first,
            ..segment.clone()
        });
    }

    /// Forgets the archived listing: the next archive starts with the next segment closed
    /// (a new publication of the stream, recorded apart).
    pub fn restart_archive(&mut self) {
        self.archive = Default::default();
        self.archive_full = false;
    }

    /// The VOD playlist of every segment closed since the archive started
    /// ([`PackagerConfig::archive_limit`](crate::PackagerConfig::archive_limit)): the same
    /// segment names, durations, discontinuities, init segments, keys and dates as the live
    /// playlist listed, with `EXT-X-PLAYLIST-TYPE:VOD` and `EXT-X-ENDLIST`, without parts.
    /// `Ok(None)` when no segment closed yet; [`Error::ArchiveFull`] when more did than the
    /// limit keeps.
    pub fn archive_playlist(&self) -> Result<Option<String>, Error> {
        if self.archive_full {
            return Err(Error::ArchiveFull {
                limit: self.config.archive_limit,
            });
        }
        if self.archive.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.render_archive()))
    }
}

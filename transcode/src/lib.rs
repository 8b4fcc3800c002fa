//! transcode (under construction)

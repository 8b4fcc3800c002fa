//! rtmp-proto (under construction)

//! hls-packager (under construction)

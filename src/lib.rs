//! onair

//! encoder (under construction)

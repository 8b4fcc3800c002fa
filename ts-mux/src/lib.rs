//! ts-mux (under construction)

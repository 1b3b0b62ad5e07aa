//! The fuzz targets' bodies ([`targets`]) and their scratch folder ([`scratch`]).

pub mod scratch;
pub mod targets;

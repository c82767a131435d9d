//! Data flow: warehouse counts → kpi-stats → publisher; these tests check kpi-stats against every
//! row of OHID's PHEindicatormethods test vectors (`shared/testdata/phe/`) before the publisher
//! relies on it.
//!
//! One test binary with a module per CSV file. Run with `--nocapture` to see the worst relative
//! error found in each file.

mod common;

mod byars_wilson;
mod dsr;
mod proportion;
mod rate;

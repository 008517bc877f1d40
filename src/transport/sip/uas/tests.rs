//! Tests of the UAS.

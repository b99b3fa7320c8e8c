//! Marshalling of JSON values against kmd types (to be written).

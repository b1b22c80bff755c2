//! Handlebars templates over the context of SPEC §6.

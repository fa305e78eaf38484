//! SeaORM entities of Heldar: one module per table.

//! The inventory reader: `serde_json::from_str::<Inventory>` then `Inventory::validate`, and
//! an `Engine` built on it (the engine checks what the inventory promises: capacities,
//! requests), as `replay` and every embedder does.
#![no_main]

use kelvin::Engine;
use kelvin_fuzz::{budget, text};
use kelvin_model::Inventory;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let text = text(data);
        let Ok(inv) = serde_json::from_str::<Inventory>(&text) else {
            return;
        };
        let valid = inv.validate().is_ok();
        let built = Engine::builder().inventory(inv).build();
        if built.is_ok() {
            assert!(
                valid,
                "the engine accepted an inventory that does not validate"
            );
        }
    });
});

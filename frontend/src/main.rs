//! The widget's entry point: runs once when the loader instantiates the wasm.

fn main() {
    ccpa_widget::mount_all();
}

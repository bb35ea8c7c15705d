//! The exec helper of spare processes, as the `invokd` binary runs it (`invokd __exec-helper`),
//! for the in-process servers of these tests, whose own executable is a test harness.

fn main() {
    invokd_engine::exec_helper_main();
}

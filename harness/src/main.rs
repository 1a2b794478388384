fn main() {
    println!("harness {}", env!("CARGO_PKG_VERSION"));
}

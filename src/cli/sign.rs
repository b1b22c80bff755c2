use super::SignArgs;
use super::SendArgs;

pub fn run_sign(_args: &SignArgs) -> i32 {
    1
}

pub fn run_send(_args: &SendArgs) -> i32 {
    1
}

//! How hard a configured admin token is to guess, estimated from its length and the kinds of
//! character in it: `length × log2(pool)`, the pool being the sum of the classes it uses
//! (26 lowercase, 26 uppercase, 10 digits, 33 ASCII symbols and space, and 128 for anything
//! else). That is what a random token of that shape holds; a token that is not random (a word,
//! a repeated pattern) holds less, so the estimate can only overrate a token, never underrate
//! a random one.

/// Below this a configured admin token is a startup warning (SPEC §11): even spread over many
/// addresses, guessing 128 bits is out of reach.
pub const MIN_ADMIN_TOKEN_BITS: f64 = 128.0;

/// The sizes of the character classes: lowercase, uppercase, digits, ASCII symbols and space,
/// anything else.
const CLASS_SIZES: [u32; 5] = [26, 26, 10, 33, 128];

fn class_of(c: char) -> usize {
    match c {
        'a'..='z' => 0,
        'A'..='Z' => 1,
        '0'..='9' => 2,
        ' ' => 3,
        _ if c.is_ascii_punctuation() => 3,
        _ => 4,
    }
}

/// The estimated strength of `token` in bits.
pub fn estimated_bits(token: &str) -> f64 {
    let mut used = [false; CLASS_SIZES.len()];
    for c in token.chars() {
        used[class_of(c)] = true;
    }
    let pool: u32 = CLASS_SIZES
        .iter()
        .zip(used)
        .filter(|(_, used)| *used)
        .map(|(size, _)| size)
        .sum();
    if pool == 0 {
        return 0.0;
    }
    token.chars().count() as f64 * f64::from(pool).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strong(token: &str) -> bool {
        estimated_bits(token) >= MIN_ADMIN_TOKEN_BITS
    }

    #[test]
    fn short_or_plain_tokens_are_weak() {
        assert!(!strong(""));
        assert!(!strong("letmein"));
        assert!(!strong("test-admin-token"));
        // 22 lowercase letters: about 103 bits.
        assert!(!strong("abcdefghijklmnopqrstuv"));
        assert!(
            !strong("0123456789012345678901234567890123456"),
            "37 digits"
        );
    }

    #[test]
    fn random_tokens_of_22_characters_or_more_are_strong() {
        // 22 letters and digits: about 131 bits.
        assert!(strong("aZ3kQ9mX2pL7vB4nR8tY1w"));
        assert!(!strong("aZ3kQ9mX2pL7vB4nR8tY1"), "21 are not enough");
        // What `openssl rand -hex 32` and the hub itself make.
        assert!(strong(&"0f".repeat(32)));
        assert!(strong(&crate::state::admin::AdminToken::generate()));
        // 28 lowercase letters are.
        assert!(strong("abcdefghijklmnopqrstuvwxyzab"));
    }
}

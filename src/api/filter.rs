//! The documented subset of AIP-160 filters: conditions `field = value` or `field : value`
//! joined by `AND`. Values are bare words or double-quoted strings (with `\"` and `\\`
//! escapes). Each List method says which fields and operators it accepts.

/// A comparison: `=` exact, `:` has (substring for text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    Has,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub field: String,
    pub op: Op,
    pub value: String,
}

/// Parses `filter` into its terms. `allowed` lists each accepted field with its operator.
pub fn parse(filter: &str, allowed: &[(&str, Op)]) -> Result<Vec<Term>, String> {
    let tokens = tokenize(filter)?;
    let mut terms = Vec::new();
    let mut rest = tokens.as_slice();
    while !rest.is_empty() {
        if !terms.is_empty() {
            match rest.first() {
                Some(Token::Word(w)) if w == "AND" => rest = &rest[1..],
                _ => return Err("conditions must be joined with AND".into()),
            }
        }
        let (field, op, value) = match rest {
            [
                Token::Word(field),
                Token::Op(op),
                Token::Word(value) | Token::Quoted(value),
                ..,
            ] => (field.clone(), *op, value.clone()),
            _ => return Err("expected a condition of the form `field = value`".into()),
        };
        rest = &rest[3..];
        match allowed.iter().find(|(name, _)| *name == field) {
            None => {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown field {field:?}; filterable fields are {}",
                    names.join(", ")
                ));
            }
            Some((_, expected)) if *expected != op => {
                let symbol = if *expected == Op::Equals { "=" } else { ":" };
                return Err(format!("field {field:?} takes the {symbol} operator"));
            }
            Some(_) => {}
        }
        if terms.iter().any(|t: &Term| t.field == field) {
            return Err(format!("field {field:?} appears more than once"));
        }
        terms.push(Term { field, op, value });
    }
    Ok(terms)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                tokens.push(Token::Op(Op::Equals));
            }
            ':' => {
                chars.next();
                tokens.push(Token::Op(Op::Has));
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated quoted value".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\')) => value.push(escaped),
                            _ => return Err("only \\\" and \\\\ escapes are allowed".into()),
                        },
                        Some(other) => value.push(other),
                    }
                }
                tokens.push(Token::Quoted(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '=' || c == ':' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[(&str, Op)] = &[
        ("stage", Op::Equals),
        ("township", Op::Equals),
        ("display_name", Op::Has),
    ];

    #[test]
    fn parses_conjunctions() {
        let terms = parse(
            r#"stage = CONSTRUCTION AND township="城关镇" AND display_name : "水\"库""#,
            FIELDS,
        )
        .unwrap();
        assert_eq!(terms.len(), 3);
        assert_eq!(terms[1].value, "城关镇");
        assert_eq!(terms[2].value, "水\"库");
        assert_eq!(terms[2].op, Op::Has);
        assert!(parse("", FIELDS).unwrap().is_empty());
        assert!(parse("   ", FIELDS).unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_filters() {
        assert!(parse("stage", FIELDS).is_err());
        assert!(parse("colour = red", FIELDS).is_err());
        assert!(parse("stage : X", FIELDS).is_err());
        assert!(parse("stage = A stage = B", FIELDS).is_err());
        assert!(parse("stage = A AND stage = B", FIELDS).is_err());
        assert!(parse("stage = \"A", FIELDS).is_err());
        assert!(parse("stage = A OR township = B", FIELDS).is_err());
    }
}

//! The documented subset of AIP-160 filters: conditions `field = value`, `field : value` or a
//! comparison (`<`, `<=`, `>`, `>=`) joined by `AND`. Values are bare words or double-quoted strings (with `\"` and `\\`
//! escapes). Each List method says which fields and operators it accepts.

/// A comparison: `=` exact, `:` has (substring for text), and the orderings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    Has,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Equals => "=",
            Op::Has => ":",
            Op::Less => "<",
            Op::LessOrEqual => "<=",
            Op::Greater => ">",
            Op::GreaterOrEqual => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub field: String,
    pub op: Op,
    pub value: String,
}

/// Parses `filter` into its terms. `allowed` lists each accepted field with its operator.
/// The longest filter accepted, in bytes; real filters are a few dozen.
pub const MAX_FILTER_BYTES: usize = 2048;

pub fn parse(filter: &str, allowed: &[(&str, Op)]) -> Result<Vec<Term>, String> {
    if filter.len() > MAX_FILTER_BYTES {
        return Err(format!(
            "must be at most {MAX_FILTER_BYTES} bytes, got {}",
            filter.len()
        ));
    }
    if filter
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err("must not contain control characters".into());
    }
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
        let known: Vec<Op> = allowed
            .iter()
            .filter(|(name, _)| *name == field)
            .map(|(_, op)| *op)
            .collect();
        if known.is_empty() {
            let mut names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            names.dedup();
            return Err(format!(
                "unknown field {field:?}; filterable fields are {}",
                names.join(", ")
            ));
        }
        if !known.contains(&op) {
            let symbols: Vec<&str> = known.iter().map(|op| op.symbol()).collect();
            return Err(format!("field {field:?} takes {}", symbols.join(" or ")));
        }
        if terms.iter().any(|t: &Term| t.field == field && t.op == op) {
            return Err(format!(
                "field {field:?} appears more than once with {}",
                op.symbol()
            ));
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
            '<' | '>' => {
                chars.next();
                let or_equal = chars.peek() == Some(&'=');
                if or_equal {
                    chars.next();
                }
                tokens.push(Token::Op(match (c, or_equal) {
                    ('<', false) => Op::Less,
                    ('<', true) => Op::LessOrEqual,
                    ('>', false) => Op::Greater,
                    _ => Op::GreaterOrEqual,
                }));
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
                    if c.is_whitespace() || matches!(c, '=' | ':' | '"' | '<' | '>') {
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
    fn comparisons() {
        let fields = &[
            ("date", Op::GreaterOrEqual),
            ("date", Op::LessOrEqual),
            ("date", Op::Less),
        ];
        let terms = parse("date >= 2026-10-01 AND date<=2026-10-31", fields).unwrap();
        assert_eq!(terms[0].op, Op::GreaterOrEqual);
        assert_eq!(terms[1].op, Op::LessOrEqual);
        assert_eq!(terms[1].value, "2026-10-31");
        assert_eq!(parse("date < x", fields).unwrap()[0].op, Op::Less);
        assert!(parse("date > x", fields).is_err());
        assert!(parse("date >= a AND date >= b", fields).is_err());
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

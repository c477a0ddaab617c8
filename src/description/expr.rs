//! Arithmetic expressions over description parameters: `${round(20683 * scale)}`.
//!
//! Written here rather than taken from an expression crate because the
//! description format needs three things those crates do not give together:
//! every value is an f64 (so `1/2` is 0.5, never integer division), errors
//! carry the character position inside the expression (so a diagnostic can
//! point at it), and unknown names come back as data (so validation can
//! suggest the parameter that was meant).

/// A parse or evaluation error, with the character offset it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    /// Character offset into the expression text.
    pub at: usize,
    /// What is wrong.
    pub message: String,
    /// An unknown name, so that the caller can suggest a parameter.
    pub unknown_name: Option<String>,
}

impl ExprError {
    fn new(at: usize, message: impl Into<String>) -> Self {
        Self {
            at,
            message: message.into(),
            unknown_name: None,
        }
    }
}

/// The functions an expression may call, with their number of arguments.
pub const FUNCTIONS: &[(&str, usize)] = &[
    ("sqrt", 1),
    ("exp", 1),
    ("ln", 1),
    ("log", 1),
    ("log10", 1),
    ("round", 1),
    ("round_even", 1),
    ("floor", 1),
    ("ceil", 1),
    ("abs", 1),
    ("sin", 1),
    ("cos", 1),
    ("min", 2),
    ("max", 2),
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Op(char),
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            // An exponent: e or E, an optional sign, digits.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let literal: String = chars[start..i].iter().filter(|&&c| c != '_').collect();
            let value = literal
                .parse::<f64>()
                .map_err(|_| ExprError::new(start, format!("`{literal}` is not a number")))?;
            tokens.push((start, Token::Number(value)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push((start, Token::Name(chars[start..i].iter().collect())));
        } else if "+-*/^(),".contains(c) {
            // `**` is accepted as a synonym of `^` (Python's power).
            if c == '*' && chars.get(i + 1) == Some(&'*') {
                tokens.push((i, Token::Op('^')));
                i += 2;
            } else {
                tokens.push((i, Token::Op(c)));
                i += 1;
            }
        } else {
            return Err(ExprError::new(
                i,
                format!(
                    "unexpected character `{c}`; expressions use numbers, parameter names, + - * / ^, parentheses and functions"
                ),
            ));
        }
    }
    Ok(tokens)
}

struct Parser<'a, F: Fn(&str) -> Option<f64>> {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    end: usize,
    lookup: &'a F,
    /// Nesting of parentheses, calls and unary signs, bounded so that a
    /// pathological expression is an error rather than a stack overflow.
    depth: usize,
}

/// The deepest nesting an expression may have.
const MAX_DEPTH: usize = 200;

impl<F: Fn(&str) -> Option<f64>> Parser<'_, F> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(at, _)| *at)
    }

    fn eat(&mut self, op: char) -> bool {
        if self.peek() == Some(&Token::Op(op)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// sum := product (('+' | '-') product)*
    fn sum(&mut self) -> Result<f64, ExprError> {
        let mut v = self.product()?;
        loop {
            if self.eat('+') {
                v += self.product()?;
            } else if self.eat('-') {
                v -= self.product()?;
            } else {
                return Ok(v);
            }
        }
    }

    /// product := unary (('*' | '/') unary)*
    fn product(&mut self) -> Result<f64, ExprError> {
        let mut v = self.unary()?;
        loop {
            if self.eat('*') {
                v *= self.unary()?;
            } else if self.peek() == Some(&Token::Op('/')) {
                let at = self.offset();
                self.pos += 1;
                let d = self.unary()?;
                if d == 0.0 {
                    return Err(ExprError::new(at, "division by zero"));
                }
                v /= d;
            } else {
                return Ok(v);
            }
        }
    }

    /// unary := '-' unary | '+' unary | power
    fn unary(&mut self) -> Result<f64, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(
                self.offset(),
                format!("the expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let v = self.unary_inner();
        self.depth -= 1;
        v
    }

    fn unary_inner(&mut self) -> Result<f64, ExprError> {
        if self.eat('-') {
            Ok(-self.unary()?)
        } else if self.eat('+') {
            self.unary()
        } else {
            self.power()
        }
    }

    /// power := atom ('^' unary)?   (right-associative; -2^2 is -4)
    fn power(&mut self) -> Result<f64, ExprError> {
        let base = self.atom()?;
        if self.eat('^') {
            let exponent = self.unary()?;
            Ok(base.powf(exponent))
        } else {
            Ok(base)
        }
    }

    fn atom(&mut self) -> Result<f64, ExprError> {
        let at = self.offset();
        match self.tokens.get(self.pos).cloned() {
            Some((_, Token::Number(v))) => {
                self.pos += 1;
                Ok(v)
            }
            Some((_, Token::Op('('))) => {
                self.pos += 1;
                let v = self.sum()?;
                if !self.eat(')') {
                    return Err(ExprError::new(self.offset(), "expected `)`"));
                }
                Ok(v)
            }
            Some((_, Token::Name(name))) => {
                self.pos += 1;
                if self.eat('(') {
                    return self.call(&name, at);
                }
                if let Some(v) = (self.lookup)(&name) {
                    return Ok(v);
                }
                if name == "pi" {
                    return Ok(std::f64::consts::PI);
                }
                Err(ExprError {
                    at,
                    message: format!("unknown parameter `{name}`"),
                    unknown_name: Some(name),
                })
            }
            Some((_, Token::Op(c))) => Err(ExprError::new(at, format!("unexpected `{c}`"))),
            None => Err(ExprError::new(at, "the expression ends too early")),
        }
    }

    fn call(&mut self, name: &str, at: usize) -> Result<f64, ExprError> {
        let Some(&(_, arity)) = FUNCTIONS.iter().find(|(f, _)| *f == name) else {
            let names: Vec<&str> = FUNCTIONS.iter().map(|(f, _)| *f).collect();
            return Err(ExprError::new(
                at,
                format!("unknown function `{name}`; functions: {}", names.join(", ")),
            ));
        };
        let mut args = Vec::new();
        if !self.eat(')') {
            loop {
                args.push(self.sum()?);
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(ExprError::new(self.offset(), "expected `,` or `)`"));
                }
            }
        }
        if args.len() != arity {
            return Err(ExprError::new(
                at,
                format!("`{name}` takes {arity} argument(s), got {}", args.len()),
            ));
        }
        let x = args[0];
        let domain = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(ExprError::new(at, format!("`{name}({x})`: {what}")))
            }
        };
        Ok(match name {
            "sqrt" => {
                domain(x >= 0.0, "the argument must be >= 0")?;
                x.sqrt()
            }
            "exp" => x.exp(),
            "ln" | "log" => {
                domain(x > 0.0, "the argument must be > 0")?;
                x.ln()
            }
            "log10" => {
                domain(x > 0.0, "the argument must be > 0")?;
                x.log10()
            }
            "round" => x.round(),
            // Halves to the even neighbour, as numpy's and Python's round.
            "round_even" => x.round_ties_even(),
            "floor" => x.floor(),
            "ceil" => x.ceil(),
            "abs" => x.abs(),
            "sin" => x.sin(),
            "cos" => x.cos(),
            "min" => x.min(args[1]),
            "max" => x.max(args[1]),
            _ => unreachable!("every name in FUNCTIONS is handled"),
        })
    }
}

/// Evaluates `text`, looking parameter names up with `lookup`.
///
/// All arithmetic is f64; a result that is not finite is an error.
pub fn evaluate(text: &str, lookup: &impl Fn(&str) -> Option<f64>) -> Result<f64, ExprError> {
    let tokens = tokenize(text)?;
    let end = text.chars().count();
    if tokens.is_empty() {
        return Err(ExprError::new(0, "the expression is empty"));
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        end,
        lookup,
        depth: 0,
    };
    let v = parser.sum()?;
    if parser.pos < parser.tokens.len() {
        let at = parser.offset();
        return Err(ExprError::new(at, "unexpected text after the expression"));
    }
    if !v.is_finite() {
        return Err(ExprError::new(0, format!("the expression gives {v}")));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str) -> Result<f64, ExprError> {
        evaluate(text, &|name| match name {
            "scale" => Some(0.1),
            "n" => Some(20683.0),
            _ => None,
        })
    }

    #[test]
    fn arithmetic_follows_the_usual_precedence_in_f64() {
        assert_eq!(eval("1 + 2 * 3").unwrap(), 7.0);
        assert_eq!(eval("(1 + 2) * 3").unwrap(), 9.0);
        assert_eq!(eval("1 / 2").unwrap(), 0.5);
        assert_eq!(eval("2 ^ 3 ^ 2").unwrap(), 512.0);
        assert_eq!(eval("2 ** 10").unwrap(), 1024.0);
        assert_eq!(eval("-2 ^ 2").unwrap(), -4.0);
        assert_eq!(eval("2 * -3").unwrap(), -6.0);
        assert_eq!(eval("10 - 4 - 3").unwrap(), 3.0);
        assert_eq!(eval("1.5e3 + .5 + 1_000").unwrap(), 2500.5);
        assert_eq!(eval("round(n * scale)").unwrap(), 2068.0);
        assert_eq!(eval("round(2.5) + round(-2.5)").unwrap(), 0.0);
        assert_eq!(eval("round(2.5)").unwrap(), 3.0);
        assert_eq!(
            eval("round_even(2.5) + round_even(3.5) + round_even(-0.5)").unwrap(),
            6.0
        );
        assert_eq!(eval("max(1, min(5, 3))").unwrap(), 3.0);
        assert!((eval("sqrt(2) * sqrt(2)").unwrap() - 2.0).abs() < 1e-15);
        assert!((eval("ln(exp(1.5))").unwrap() - 1.5).abs() < 1e-15);
        assert_eq!(eval("log10(1000)").unwrap(), 3.0);
        assert_eq!(eval("floor(-1.5) + ceil(1.2) + abs(-3)").unwrap(), 3.0);
        assert!((eval("pi").unwrap() - std::f64::consts::PI).abs() < 1e-15);
        assert!((eval("cos(pi)").unwrap() + 1.0).abs() < 1e-15);
        assert!((eval("sin(pi / 2)").unwrap() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = eval("round(n * scal)").unwrap_err();
        assert_eq!(e.at, 10);
        assert_eq!(e.unknown_name.as_deref(), Some("scal"));
        assert_eq!(
            eval("1 / (scale - 0.1)").unwrap_err().message,
            "division by zero"
        );
        assert_eq!(
            eval("1 +").unwrap_err().message,
            "the expression ends too early"
        );
        assert_eq!(eval("(1 + 2").unwrap_err().message, "expected `)`");
        assert_eq!(eval("1 2").unwrap_err().at, 2);
        assert!(eval("sqrt(-1)").unwrap_err().message.contains(">= 0"));
        assert!(
            eval("tan(1)")
                .unwrap_err()
                .message
                .contains("unknown function")
        );
        assert!(eval("min(1)").unwrap_err().message.contains("takes 2"));
        assert!(
            eval("1 $ 2")
                .unwrap_err()
                .message
                .contains("unexpected character")
        );
        assert!(eval("").is_err());
        assert!(eval("exp(1000)").unwrap_err().message.contains("inf"));
        let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(eval(&deep).unwrap_err().message.contains("nests deeper"));
        assert!(
            eval(&"-".repeat(100_000))
                .unwrap_err()
                .message
                .contains("nests deeper")
        );
    }
}

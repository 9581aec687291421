package main

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Most of the model's patterns need no regular expression at run time.
// They are not anchored, so a value is valid when the pattern matches any
// part of it; then
//   - a pattern that matches the empty string, and holds no assertion
//     such as ^ or $, accepts every value (`[a-zA-Z]*`);
//   - in a concatenation, leading and trailing parts that can match the
//     empty string change nothing (`.*\S.*` is `\S`,
//     `[a-zA-Z][a-zA-Z0-9\-]*` is `[a-zA-Z]`), and X+ matches where X does.
// What is left is often one character class, and a value is valid when it
// contains one rune of that class: a loop, not a regexp.

// simplePattern returns how to check an unanchored pattern without a
// regexp: always (every value is valid), or class (the ranges lo, hi, ...
// of which a valid value holds at least one rune); ok false when neither.
func simplePattern(pattern string) (always bool, class []rune, ok bool) {
	p, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return false, nil, false
	}
	p = p.Simplify()
	if hasAssertion(p) {
		// ^, $, \b and the like tie a match to a position: keep the regexp.
		return false, nil, false
	}
	if matchesEmpty(p) {
		return true, nil, true
	}
	for {
		switch p.Op {
		case syntax.OpCapture:
			p = p.Sub[0]
			continue
		case syntax.OpPlus:
			p = p.Sub[0]
			continue
		case syntax.OpConcat:
			subs := p.Sub
			for len(subs) > 0 && matchesEmpty(subs[0]) {
				subs = subs[1:]
			}
			for len(subs) > 0 && matchesEmpty(subs[len(subs)-1]) {
				subs = subs[:len(subs)-1]
			}
			if len(subs) != 1 {
				return false, nil, false
			}
			p = subs[0]
			continue
		case syntax.OpCharClass:
			return false, p.Rune, true
		case syntax.OpLiteral:
			if len(p.Rune) == 1 && p.Flags&syntax.FoldCase == 0 {
				return false, []rune{p.Rune[0], p.Rune[0]}, true
			}
		}
		return false, nil, false
	}
}

// matchesEmpty reports whether p, which holds no assertion, can match the
// empty string.
func matchesEmpty(p *syntax.Regexp) bool {
	re, err := regexp.Compile(p.String())
	return err == nil && re.MatchString("")
}

// hasAssertion reports whether p holds an empty-width assertion.
func hasAssertion(p *syntax.Regexp) bool {
	switch p.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, s := range p.Sub {
		if hasAssertion(s) {
			return true
		}
	}
	return false
}

// classExpr is the Go condition that rune r is in the class.
func classExpr(class []rune) string {
	var terms []string
	for i := 0; i+1 < len(class); i += 2 {
		lo, hi := class[i], class[i+1]
		if lo == hi {
			terms = append(terms, fmt.Sprintf("r == %q", lo))
		} else {
			terms = append(terms, fmt.Sprintf("r >= %q && r <= %q", lo, hi))
		}
	}
	return strings.Join(terms, " || ")
}

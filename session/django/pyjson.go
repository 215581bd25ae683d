package django

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Django's JSONSerializer writes json.dumps(obj, separators=(',', ':')):
// compact, and with ensure_ascii, so every character outside printable
// ASCII is a \u escape. It must be: the serializer reads the bytes back as
// Latin-1, so raw UTF-8 would come back as mojibake. The functions here
// write JSON text the way Python does, except numbers, which stay verbatim
// (Python would reformat floats; Django reads the same value either way).

// appendPyJSON appends the valid JSON value v, compacted and with every
// string escaped as Python's json.dumps escapes it.
func appendPyJSON(dst, v []byte) []byte {
	for i := 0; i < len(v); {
		switch c := v[i]; c {
		case ' ', '\t', '\n', '\r':
			i++
		case '"':
			var n int
			dst, n = appendPyQuoted(dst, v[i:])
			i += n
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}

// appendPyQuoted re-escapes the JSON string at the start of v and returns
// how many bytes of v it spanned. Escapes are read down to UTF-16 code
// units and written back from them, so a lone surrogate stays one, as in
// Python.
func appendPyQuoted(dst, v []byte) ([]byte, int) {
	dst = append(dst, '"')
	i := 1
	for i < len(v) {
		c := v[i]
		switch {
		case c == '"':
			return append(dst, '"'), i + 1
		case c == '\\' && i+1 < len(v):
			i += 2
			switch e := v[i-1]; e {
			case 'b':
				dst = appendPyUnit(dst, '\b')
			case 'f':
				dst = appendPyUnit(dst, '\f')
			case 'n':
				dst = appendPyUnit(dst, '\n')
			case 'r':
				dst = appendPyUnit(dst, '\r')
			case 't':
				dst = appendPyUnit(dst, '\t')
			case 'u':
				if i+4 <= len(v) {
					dst = appendPyUnit(dst, hex4(v[i:i+4]))
					i += 4
				}
			default: // " \ /
				dst = appendPyUnit(dst, rune(e))
			}
		case c < utf8.RuneSelf:
			dst = appendPyUnit(dst, rune(c))
			i++
		default:
			r, n := utf8.DecodeRune(v[i:])
			i += n
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				dst = appendPyUnit(appendPyUnit(dst, r1), r2)
			} else {
				dst = appendPyUnit(dst, r)
			}
		}
	}
	return append(dst, '"'), i
}

// appendPyString appends s as Python's json.dumps writes a str.
func appendPyString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range s {
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			dst = appendPyUnit(appendPyUnit(dst, r1), r2)
		} else {
			dst = appendPyUnit(dst, r)
		}
	}
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendPyUnit appends one UTF-16 code unit as Python's ensure_ascii
// encoder does: printable ASCII as itself, the two-letter escapes, and
// everything else as \u with lowercase hex.
func appendPyUnit(dst []byte, u rune) []byte {
	switch {
	case u == '"' || u == '\\':
		return append(dst, '\\', byte(u))
	case u >= 0x20 && u < 0x7f:
		return append(dst, byte(u))
	case u == '\n':
		return append(dst, '\\', 'n')
	case u == '\r':
		return append(dst, '\\', 'r')
	case u == '\t':
		return append(dst, '\\', 't')
	case u == '\b':
		return append(dst, '\\', 'b')
	case u == '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', hexDigits[u>>12&0xf], hexDigits[u>>8&0xf], hexDigits[u>>4&0xf], hexDigits[u&0xf])
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// latin1ToUTF8 reads b as Django's serializer does, one byte one character
// (Latin-1), and returns that text in UTF-8. Django writes only ASCII, so
// this copies nothing for its values.
func latin1ToUTF8(b []byte) []byte {
	n := 0
	for _, c := range b {
		if c >= utf8.RuneSelf {
			n++
		}
	}
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

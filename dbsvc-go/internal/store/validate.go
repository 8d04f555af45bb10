package store

import (
	"net/mail"
	"unicode"
	"unicode/utf8"
)

// The contract's limits on account fields. Lengths are in characters, as
// PostgreSQL's varchar(n) counts them.
const (
	sidMax      = 15
	usernameMin = 3
	usernameMax = 50
	emailMax    = 255
	passwordMin = 8
	passwordMax = 128
)

func validateSID(sid string) error {
	if n := utf8.RuneCountInString(sid); n < 1 || n > sidMax {
		return refuse(Invalid, "sid: must be 1 to %d characters, got %d", sidMax, n)
	}
	// PostgreSQL cannot store NUL, and no student id holds a control character.
	for _, r := range sid {
		if unicode.IsControl(r) {
			return refuse(Invalid, "sid: must not contain control characters")
		}
	}
	return nil
}

func validateUsername(username string) error {
	n := utf8.RuneCountInString(username)
	valid := n >= usernameMin && n <= usernameMax
	for _, r := range username {
		valid = valid && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
	}
	if !valid {
		return refuse(Invalid, "username: must be %d to %d characters, each a letter, digit, '_', '.' or '-'", usernameMin, usernameMax)
	}
	return nil
}

func validateEmail(email string) error {
	if n := utf8.RuneCountInString(email); n > emailMax {
		return refuse(Invalid, "email: must be at most %d characters, got %d", emailMax, n)
	}
	// ParseAddress also accepts `Name <a@b>` and surrounding spaces; only the
	// bare address is stored, so anything else is refused rather than rewritten.
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return refuse(Invalid, "email: %q is not a valid email address", email)
	}
	return nil
}

func validatePassword(password string) error {
	if n := utf8.RuneCountInString(password); n < passwordMin || n > passwordMax {
		return refuse(Invalid, "password: must be %d to %d characters, got %d", passwordMin, passwordMax, n)
	}
	return nil
}

func validateID(field string, id int32) error {
	if id <= 0 {
		return refuse(Invalid, "%s: must be a positive integer, got %d", field, id)
	}
	return nil
}

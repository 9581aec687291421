package api_test

import (
	"errors"

	"github.com/aws/smithy-go"
)

// errorMessage returns the code and message of an SDK API error.
func errorMessage(err error) (string, string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

package clbsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	tc3Algorithm = "TC3-HMAC-SHA256"
	tc3Service   = "clb"
)

// tc3Authorization is the parsed Authorization header.
type tc3Authorization struct {
	secretID, date, service string
	signedHeaders           []string
	signature               string
}

// verifySignature checks the TC3-HMAC-SHA256 signature the SDK computes in
// common.Client.sendWithSignatureV3. An empty Options.SecretKey disables it.
func (s *Sim) verifySignature(r *http.Request, body []byte) error {
	if s.opts.SecretKey == "" {
		return nil
	}
	auth, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		return errf(codeMissingParameter, "X-TC-Timestamp must be a Unix time in seconds")
	}
	signedAt := time.Unix(ts, 0)
	if skew := s.now().Sub(signedAt); skew > maxTimestampSkew || skew < -maxTimestampSkew {
		return errf(codeSignatureExpire, "the signature expired: timestamp %d is more than %s away from server time", ts, maxTimestampSkew)
	}
	if auth.secretID != s.opts.SecretID {
		return errf(codeSecretIDNotFound, "the SecretId is not found")
	}
	if auth.date != signedAt.UTC().Format(time.DateOnly) || auth.service != tc3Service {
		return errf(codeSignatureFailure, "the credential scope does not match the timestamp or service")
	}
	want := tc3Signature(s.opts.SecretKey, r, body, auth, ts)
	if !hmac.Equal([]byte(want), []byte(auth.signature)) {
		return errf(codeSignatureFailure, "the provided credentials could not be validated")
	}
	return nil
}

// parseAuthorization splits "TC3-HMAC-SHA256 Credential=id/date/svc/tc3_request, SignedHeaders=a;b, Signature=hex".
func parseAuthorization(header string) (*tc3Authorization, error) {
	invalid := errf(codeAuthInvalid, "the Authorization header is not a valid TC3-HMAC-SHA256 authorization")
	rest, ok := strings.CutPrefix(header, tc3Algorithm+" ")
	if !ok {
		return nil, invalid
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return nil, invalid
		}
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 4 || scope[3] != "tc3_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return nil, invalid
	}
	return &tc3Authorization{
		secretID:      scope[0],
		date:          scope[1],
		service:       scope[2],
		signedHeaders: strings.Split(fields["SignedHeaders"], ";"),
		signature:     fields["Signature"],
	}, nil
}

// tc3Signature recomputes the signature with the server's copy of the key.
func tc3Signature(secretKey string, r *http.Request, body []byte, auth *tc3Authorization, ts int64) string {
	var canonicalHeaders strings.Builder
	for _, name := range auth.signedHeaders {
		value := r.Header.Get(name)
		if strings.EqualFold(name, "host") {
			value = r.Host
		}
		canonicalHeaders.WriteString(strings.ToLower(name) + ":" + strings.TrimSpace(value) + "\n")
	}
	payloadHash := sha256Hex(body)
	if r.Header.Get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD" {
		payloadHash = sha256Hex([]byte("UNSIGNED-PAYLOAD"))
	}
	canonicalRequest := strings.Join([]string{
		r.Method, "/", r.URL.RawQuery, canonicalHeaders.String(),
		strings.Join(auth.signedHeaders, ";"), payloadHash,
	}, "\n")
	scope := auth.date + "/" + auth.service + "/tc3_request"
	stringToSign := strings.Join([]string{tc3Algorithm, strconv.FormatInt(ts, 10), scope, sha256Hex([]byte(canonicalRequest))}, "\n")
	key := hmacSHA256([]byte("TC3"+secretKey), auth.date)
	key = hmacSHA256(key, auth.service)
	key = hmacSHA256(key, "tc3_request")
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	_, _ = h.Write([]byte(msg))
	return h.Sum(nil)
}

// SignRequest signs a raw API request the way the SDK does (content-type;host
// signed, payload hashed), with the timestamp signedAt. Tests use it to craft
// requests the SDK would never send, such as ones with a stale timestamp.
func SignRequest(r *http.Request, body []byte, secretID, secretKey string, signedAt time.Time) {
	ts := signedAt.Unix()
	r.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	auth := &tc3Authorization{
		secretID:      secretID,
		date:          signedAt.UTC().Format(time.DateOnly),
		service:       tc3Service,
		signedHeaders: []string{"content-type", "host"},
	}
	sig := tc3Signature(secretKey, r, body, auth, ts)
	r.Header.Set("Authorization", tc3Algorithm+" Credential="+secretID+"/"+auth.date+"/"+tc3Service+
		"/tc3_request, SignedHeaders=content-type;host, Signature="+sig)
}

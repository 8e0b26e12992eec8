package redact_test

import "regexp"

// seedPatterns is the seed design's regex list (shared/seeds, "kubectl Command Sanitization in Job
// Pods"), kept only to compare with: the corpus and the benchmark run it on the same input.
var seedPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(password|passwd|pwd)\s*[:=]\s*\S+`),
	regexp.MustCompile(`(?i)(api[_-]?key|apikey)\s*[:=]\s*\S+`),
	regexp.MustCompile(`(?i)(token|auth)\s*[:=]\s*\S+`),
	regexp.MustCompile(`(?i)(secret)\s*[:=]\s*\S+`),
	regexp.MustCompile(`(?i)(aws[_-]?access[_-]?key[_-]?id|aws[_-]?secret[_-]?access[_-]?key)\s*[:=]\s*\S+`),
	regexp.MustCompile(`(?i)(connection[_-]?string|database[_-]?url)\s*[:=]\s*\S+`),
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`),
	regexp.MustCompile(`(?i)(secret|token|key)\s*[:=]\s*[A-Za-z0-9+/]{32,}={0,2}`),
}

// seedRedact is the seed's sanitizeCommand.
func seedRedact(s string) string {
	for _, p := range seedPatterns {
		s = p.ReplaceAllString(s, "$1=***REDACTED***")
	}
	return s
}

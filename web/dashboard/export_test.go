package dashboard

// Label returns the dashboard's text for key in lang, and whether that
// catalogue has it (no fall-back).
func Label(lang, key string) (string, bool) {
	s, ok := catalogue[lang][key]
	return s, ok
}

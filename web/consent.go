package web

// consentRoutes are the routes of consent and the ledger (notices, consent
// events, checkpoints and proofs).
func (s *Server) consentRoutes() []Route {
	return nil
}

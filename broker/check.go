package broker

// CheckURL checks a broker URL of either kind, Redis (ParseURL, with
// sentinelMaster) or AMQP (ParseAMQPURL), without I/O, and returns the
// passwords it carries: secrets never to print. A password an AMQP URL
// leaves out (kombu's guest) is not one. Errors name the accepted forms of
// the URL's kind and never contain a password.
func CheckURL(raw, sentinelMaster string) (passwords []string, err error) {
	if IsAMQP(raw) {
		if _, err := ParseAMQPURL(raw); err != nil {
			return nil, err
		}
		for _, s := range splitURLs(raw) {
			if p, err := splitURL(s); err == nil && p.hasUser && p.password != "" {
				passwords = append(passwords, p.password)
			}
		}
		return passwords, nil
	}
	ep, err := ParseURL(raw, sentinelMaster)
	if err != nil {
		return nil, err
	}
	if ep.Password != "" {
		passwords = append(passwords, ep.Password)
	}
	return passwords, nil
}

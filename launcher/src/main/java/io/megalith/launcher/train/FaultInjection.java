package io.megalith.launcher.train;

import java.io.Serializable;

/**
 * A deliberate failure for tests of restart-on-failure: rank {@code rank} throws after completing
 * step {@code step} in attempt {@code attempt}. Set with the system property
 * {@code megalith.inject.failure=rank:step:attempt} on the driver.
 */
record FaultInjection(int rank, long step, int attempt) implements Serializable {
    private static final long serialVersionUID = 1L;
    static final String PROPERTY = "megalith.inject.failure";

    static FaultInjection fromSystemProperty() {
        String spec = System.getProperty(PROPERTY);
        if (spec == null || spec.isBlank()) {
            return null;
        }
        String[] parts = spec.split(":");
        if (parts.length != 3) {
            throw new IllegalArgumentException(PROPERTY + " must be rank:step:attempt, got " + spec);
        }
        return new FaultInjection(Integer.parseInt(parts[0]), Long.parseLong(parts[1]), Integer.parseInt(parts[2]));
    }

    void maybeFail(int currentRank, long completedStep, int currentAttempt) {
        if (currentRank == rank && completedStep == step && currentAttempt == attempt) {
            throw new InjectedFailure("injected failure: rank " + rank + " after step " + step + " in attempt " + attempt);
        }
    }

    /** The exception an injected fault throws. */
    static final class InjectedFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        InjectedFailure(String message) {
            super(message);
        }
    }
}

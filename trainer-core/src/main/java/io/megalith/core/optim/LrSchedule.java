package io.megalith.core.optim;

/**
 * nanoGPT's learning-rate schedule: linear warmup to {@code lr} over {@code warmup} steps, cosine
 * decay to {@code minLr} at {@code decayEnd}, then constant {@code minLr}. Steps count from 0.
 */
public record LrSchedule(double lr, double minLr, int warmup, int decayEnd) {
    public double at(long step) {
        if (step < warmup) {
            return lr * (step + 1) / (warmup + 1);
        }
        if (step > decayEnd) {
            return minLr;
        }
        double ratio = decayEnd == warmup ? 1.0 : (double) (step - warmup) / (decayEnd - warmup);
        double coeff = 0.5 * (1.0 + Math.cos(Math.PI * ratio));
        return minLr + coeff * (lr - minLr);
    }
}

package io.megalith.launcher.spark;

/** {@link BarrierJobContract} with 3 ranks on {@code local[3]}. */
class BarrierJobLocal3Test extends BarrierJobContract {
    @Override
    int ranks() {
        return 3;
    }
}

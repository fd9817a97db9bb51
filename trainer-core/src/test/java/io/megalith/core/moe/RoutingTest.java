package io.megalith.core.moe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The router's discrete math against small cases computed by hand. */
class RoutingTest {
    @Test
    void capacityIsCeilOfFactorTimesKTimesTokensOverExperts() {
        assertThat(Routing.capacity(1.0, 1, 4, 2)).isEqualTo(2); // 1 x 1 x 4 / 2
        assertThat(Routing.capacity(1.25, 1, 8, 4)).isEqualTo(3); // ceil(2.5)
        assertThat(Routing.capacity(1.25, 2, 8, 4)).isEqualTo(5); // 1.25 x 2 x 8 / 4
        assertThat(Routing.capacity(0.1, 1, 8, 4)).isEqualTo(1); // at least one slot
        assertThat(Routing.capacity(0, 2, 8, 4)).isEqualTo(8); // no dropping: T, the most an expert can get
        assertThat(Routing.capacity(100, 2, 8, 4)).isEqualTo(8);
    }

    @Test
    void topOneTokensClaimSlotsInPositionOrder() {
        // one sequence of 4 tokens, 2 experts, capacity 1.0 x 4 / 2 = 2; all 4 prefer expert 0
        float[] p = {
            0.9f, 0.1f,
            0.6f, 0.4f,
            0.7f, 0.3f,
            0.2f, 0.8f,
        };
        Routing r = Routing.route(p, 4, 2, 1, 1.0);
        assertThat(r.expert).containsExactly(0, 0, 0, 1);
        assertThat(r.capacity).isEqualTo(2);
        assertThat(r.slot).containsExactly(0, 1, -1, 0); // position 2 finds expert 0 full: dropped
        assertThat(r.dropped).isEqualTo(1);
        assertThat(r.kept[0]).containsExactly(0, 1);
        assertThat(r.kept[1]).containsExactly(3);
        // f = (3/4, 1/4); P = (mean 0.9 0.6 0.7 0.2 = 0.6, 0.4); aux = 2 (0.75 x 0.6 + 0.25 x 0.4) = 1.1
        assertThat(r.fraction[0]).containsExactly(new double[] {0.75, 0.25}, within(1e-12));
        assertThat(r.auxLoss(p, 0)).isCloseTo(1.1, within(1e-6));
    }

    @Test
    void firstChoicesOfEveryTokenComeBeforeAnySecondChoice() {
        // 3 tokens, 3 experts, top-2, capacity ceil(0.5 x 2 x 3 / 3) = 1 slot per expert
        float[] p = {
            0.5f, 0.3f, 0.2f, // t0: first 0, second 1
            0.1f, 0.6f, 0.3f, // t1: first 1, second 2
            0.2f, 0.3f, 0.5f, // t2: first 2, second 1
        };
        Routing r = Routing.route(p, 3, 3, 2, 0.5);
        assertThat(r.capacity).isEqualTo(1);
        assertThat(r.expert).containsExactly(0, 1, 1, 2, 2, 1);
        // first choices (t0->0, t1->1, t2->2) take every slot, though t0's second choice (1) is at an earlier
        // position than t1's first choice: all second choices are dropped
        assertThat(r.slot).containsExactly(0, -1, 0, -1, 0, -1);
        assertThat(r.dropped).isEqualTo(3);
        // f over the 6 assignments: e0 1/6, e1 3/6, e2 2/6; P = (0.8/3, 1.2/3, 1.0/3)
        // aux = 3 (1/6 x 0.8/3 + 3/6 x 1.2/3 + 2/6 x 1.0/3) = (0.8 + 3.6 + 2.0) / 6 = 1.0666...
        assertThat(r.auxLoss(p, 0)).isCloseTo(6.4 / 6, within(1e-6));
    }

    @Test
    void secondChoicesClaimSlotsInPositionOrderAfterFirstChoices() {
        // 4 tokens, 2 experts, top-2: every token uses both experts; capacity ceil(0.75 x 2 x 4 / 2) = 3
        float[] p = {
            0.6f, 0.4f,
            0.3f, 0.7f,
            0.8f, 0.2f,
            0.1f, 0.9f,
        };
        Routing r = Routing.route(p, 4, 2, 2, 0.75);
        assertThat(r.capacity).isEqualTo(3);
        // first choices: e0 gets t0, t2 (slots 0, 1); e1 gets t1, t3 (slots 0, 1)
        // second choices in position order: t0->e1 slot 2, t1->e0 slot 2, t2->e1 full, t3->e0 full
        assertThat(r.slot).containsExactly(0, 2, 0, 2, 1, -1, 1, -1);
        assertThat(r.kept[0]).containsExactly(0, 4, 3); // t0 first, t2 first, t1 second (assignment indices)
        assertThat(r.kept[1]).containsExactly(2, 6, 1);
        // balanced choices: f = (1/2, 1/2), P = (0.45, 0.55): aux = 2 (0.225 + 0.275) = 1
        assertThat(r.auxLoss(p, 0)).isCloseTo(1.0, within(1e-6));
    }

    @Test
    void noDropModeKeepsEveryAssignmentAndSequencesAreSeparateGroups() {
        // 2 sequences of 2 tokens, all to expert 1; no dropping
        float[] p = {
            0.1f, 0.9f,
            0.2f, 0.8f,
            0.3f, 0.7f,
            0.4f, 0.6f,
        };
        Routing r = Routing.route(p, 2, 2, 1, 0);
        assertThat(r.dropped).isZero();
        assertThat(r.slot).containsExactly(0, 1, 0, 1); // slots are counted per sequence
        assertThat(r.kept[1]).containsExactly(0, 1, 2, 3);
        assertThat(r.load(0)).isZero();
        // sequence 0: f = (0, 1), P1 = 0.85: aux = 2 x 0.85 = 1.7; sequence 1: P1 = 0.65: aux = 1.3
        assertThat(r.auxLoss(p, 0)).isCloseTo(1.7, within(1e-6));
        assertThat(r.auxLoss(p, 1)).isCloseTo(1.3, within(1e-6));
        // with capacity 1 (factor 1 x 1 x 2 / 2) each sequence keeps its first token only
        Routing capped = Routing.route(p, 2, 2, 1, 1.0);
        assertThat(capped.slot).containsExactly(0, -1, 0, -1);
        assertThat(capped.kept[1]).containsExactly(0, 2);
    }

    @Test
    void tiesGoToTheLowerExpert() {
        float[] p = {0.25f, 0.25f, 0.25f, 0.25f};
        Routing r = Routing.route(p, 1, 4, 2, 0);
        assertThat(r.expert).containsExactly(0, 1);
    }
}

package io.megalith.parallel.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class MeshGroupNameTest {
    /**
     * Reads a mesh group name back into its members: {@code a,b,c}, {@code a..z} (step 1) or
     * {@code a,b..z} (step b - a). Shows that abbreviated names lose nothing for mesh groups.
     */
    static int[] decode(String name) {
        String inside = name.substring(name.indexOf('[') + 1, name.length() - 1);
        int range = inside.indexOf("..");
        if (range < 0) {
            return Arrays.stream(inside.split(",")).mapToInt(Integer::parseInt).toArray();
        }
        int[] head = Arrays.stream(inside.substring(0, range).split(",")).mapToInt(Integer::parseInt).toArray();
        int last = Integer.parseInt(inside.substring(range + 2));
        int step = head.length == 1 ? 1 : head[1] - head[0];
        return IntStream.iterate(head[0], r -> r <= last, r -> r + step).toArray();
    }

    @Test
    void shortGroupsAreListedInFull() {
        assertThat(MeshGroup.name("tp", new int[] {0, 1})).isEqualTo("tp[0,1]");
        assertThat(MeshGroup.name("pp", new int[] {1, 5})).isEqualTo("pp[1,5]");
        assertThat(MeshGroup.name("dp", new int[] {0, 2, 4, 6})).isEqualTo("dp[0,2,4,6]");
        assertThat(MeshGroup.name("edp", new int[] {7})).isEqualTo("edp[7]");
    }

    @Test
    void longArithmeticGroupsAreWrittenAsRanges() {
        assertThat(MeshGroup.name("world", IntStream.range(0, 8).toArray())).isEqualTo("world[0..7]");
        assertThat(MeshGroup.name("tp", IntStream.range(8, 13).toArray())).isEqualTo("tp[8..12]");
        assertThat(MeshGroup.name("dp", new int[] {1, 3, 5, 7, 9})).isEqualTo("dp[1,3..9]");
        assertThat(decode("dp[1,3..9]")).containsExactly(1, 3, 5, 7, 9);
        assertThat(decode("world[0..7]")).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
    }

    @Test
    void otherLongGroupsKeepFirstTwoAndLast() {
        assertThat(MeshGroup.name("x", new int[] {0, 1, 5, 6, 9})).isEqualTo("x[0,1,...,9]");
    }

    @Test
    void bigMeshNamesStayShort() {
        DeviceMesh mesh = new DeviceMesh(64, 8, 4, 8);
        assertThat(mesh.group(GroupKind.WORLD, 0).name()).isEqualTo("world[0..2047]");
        assertThat(mesh.group(GroupKind.DATA, 3).name()).isEqualTo("dp[3,11..507]");
        assertThat(mesh.group(GroupKind.TENSOR, 9).name()).isEqualTo("tp[8..15]");
        assertThat(mesh.group(GroupKind.EXPERT_DATA, 0).name()).isEqualTo("edp[0,64..448]");
    }
}

/**
 * Gradients of dilated convolutions, and causal 1-D convolution, for every backend.
 *
 * tfjs's `Conv2D` gradient asserts dilation 1 ("dilation rates greater than 1 are not yet supported
 * in gradients"), so a TCN (dilations 1…16) cannot train on any tfjs backend. We replace the
 * `Conv2D` gradient (gradients are global, not per backend): dilation 1 keeps tfjs's own gradient
 * (which runs the `Conv2DBackpropInput`/`Filter` kernels); dilation > 1, where tfjs forces stride 1,
 * is expressed with forward convolutions:
 *
 * - dX: the full correlation of dY (padded by (K−1)·d each side) with the filter flipped in space
 *   and transposed to [KH, KW, F, C], same dilation; then the rows of the input's padding cropped.
 * - dW[i,j,c,f] = Σ X[n, y + i·dh, x + j·dw, c] · dY[n,y,x,f]: X transposed to [C, H, W, N]
 *   convolved with dY transposed to [OH, OW, N, F] as the filter, with stride = dilation, which
 *   visits only the taps that exist (no zero-stuffed filter).
 */
import * as tf from '@tensorflow/tfjs';

type Shape4 = [number, number, number, number];

function dilatedConv2dGrads(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  attrs: tf.Conv2DAttrs,
): { x: () => tf.Tensor; filter: () => tf.Tensor } {
  if (attrs.dataFormat !== 'NHWC') throw new Error('fmmatch dilated Conv2D gradient: only NHWC is supported');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4, filter.shape as Shape4, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode,
    false, 'channelsLast',
  );
  if (info.strideHeight !== 1 || info.strideWidth !== 1) {
    throw new Error('fmmatch dilated Conv2D gradient: strides must be 1 when dilations > 1');
  }
  const [kh, kw, c, f] = filter.shape;
  const [n, h, w] = x.shape;
  const dh = info.dilationHeight;
  const dw = info.dilationWidth;
  const { top, left } = info.padInfo;
  return {
    x: () =>
      tf.tidy(() => {
        const eh = (kh - 1) * dh;
        const ew = (kw - 1) * dw;
        const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]); // [KH, KW, F, C]
        const dyPad = tf.pad(dy, [[0, 0], [eh, eh], [ew, ew], [0, 0]]);
        const full = tf.conv2d(dyPad, flipped, 1, 'valid', 'NHWC', [dh, dw]); // padded-input gradient
        const [, fh, fw] = full.shape;
        const ext = tf.pad(full, [[0, 0], [0, Math.max(0, top + h - fh)], [0, Math.max(0, left + w - fw)], [0, 0]]);
        return tf.slice(ext, [0, top, left, 0], [n, h, w, c]);
      }),
    filter: () =>
      tf.tidy(() => {
        const { bottom, right } = info.padInfo;
        const xPad = tf.pad(x, [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]]);
        const xT = tf.transpose(xPad, [3, 1, 2, 0]); // [C, Hp, Wp, N]
        const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [OH, OW, N, F]
        const g = tf.conv2d(xT, dyT, [dh, dw], 'valid'); // [C, ≥KH, ≥KW, F]
        return tf.transpose(tf.slice(g, [0, 0, 0, 0], [c, kh, kw, f]), [1, 2, 0, 3]);
      }),
  };
}

let installed = false;

/**
 * Replaces tfjs's `Conv2D` gradient with one that also handles dilations > 1 (see the module
 * comment). Idempotent; affects every backend, since tfjs keeps one gradient per kernel name.
 */
export function installDilatedConvGradient(): void {
  if (installed) return;
  const original = tf.getGradient(tf.Conv2D);
  if (original === undefined) throw new Error('fmmatch: tfjs has no Conv2D gradient to extend');
  tf.registerGradient({
    kernelName: tf.Conv2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const a = attrs as unknown as tf.Conv2DAttrs;
      const [dh, dwl] = typeof a.dilations === 'number' ? [a.dilations, a.dilations] : a.dilations;
      if (dh === 1 && dwl === 1) return original.gradFunc(dy, saved, attrs);
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      return dilatedConv2dGrads(dy as tf.Tensor4D, x, filter, a);
    },
  });
  installed = true;
}

/**
 * Causal dilated 1-D convolution: output t sees inputs t, t−d, …, t−(K−1)·d only. tfjs-layers
 * rejects `padding: 'causal'`, so this is a left pad of (K−1)·d zeros plus a valid convolution;
 * its gradient is the pad's (a slice) and the convolution's (dilated: {@link installDilatedConvGradient}).
 *
 * @param x input [batch, time, inChannels]
 * @param filter kernel [K, inChannels, outChannels]
 * @param dilation spacing of the taps, in samples (≥ 1)
 * @returns [batch, time, outChannels]
 */
export function causalConv1d(x: tf.Tensor3D, filter: tf.Tensor3D, dilation: number): tf.Tensor3D {
  return tf.tidy(() => {
    const k = filter.shape[0];
    const padded = tf.pad(x, [[0, 0], [(k - 1) * dilation, 0], [0, 0]]);
    return tf.conv1d(padded, filter, 1, 'valid', 'NWC', dilation);
  });
}

import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { TagList } from '../api/types';
import { tags } from '../testing/fixtures';
import { TagPicker } from './TagPicker';

// The clock is the test's: the search's debounce fires exactly when the test says, so
// what happens before and after it does not depend on how fast the machine renders.
beforeEach(() => jest.useFakeTimers());
afterEach(() => {
  jest.clearAllTimers();
  jest.useRealTimers();
});

/** Lets the pending promises (the mocked load) settle and React render their results. */
async function settle() {
  await act(async () => {
    for (let i = 0; i < 5; i += 1) await Promise.resolve();
  });
}

function backend(count: number) {
  const all = tags(count);
  return jest.fn(async (query: { q: string; limit: number; offset: number }): Promise<TagList> => {
    const found = all.filter(tag => tag.tag.includes(query.q));
    return {
      component: 'default/orders',
      items: found.slice(query.offset, query.offset + query.limit),
      total: found.length,
      offset: query.offset,
      limit: query.limit,
      next_offset: query.offset + query.limit < found.length ? query.offset + query.limit : null,
    };
  });
}

function renderPicker(load: ReturnType<typeof backend>) {
  render(
    <TagPicker
      load={load}
      environment="dev"
      environments={['dev', 'prod']}
      onSelect={() => undefined}
      debounceMs={250}
    />,
  );
}

describe('TagPicker', () => {
  it('stays on the page a person moved to when the search box was never touched', async () => {
    const load = backend(30);
    renderPicker(load);
    await settle();
    expect(screen.getByText('1-8 of 30')).toBeInTheDocument();
    // Older before the debounce's delay has passed since the picker opened
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await settle();
    expect(screen.getByText('9-16 of 30')).toBeInTheDocument();
    act(() => {
      jest.advanceTimersByTime(1000);
    });
    await settle();
    expect(screen.getByText('9-16 of 30')).toBeInTheDocument();
    const list = screen.getByRole('list', { name: 'Tags' });
    expect(within(list).getByRole('button', { name: 'tag v1.22.0' })).toBeInTheDocument();
    expect(load.mock.calls.map(([query]) => query)).toEqual([
      { q: '', limit: 8, offset: 0 },
      { q: '', limit: 8, offset: 8 },
    ]);
  });

  it('searches once typing pauses, from the first page', async () => {
    const load = backend(30);
    renderPicker(load);
    await settle();
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await settle();
    expect(screen.getByText('9-16 of 30')).toBeInTheDocument();
    fireEvent.change(screen.getByLabelText('Search tags'), { target: { value: 'v1.1' } });
    act(() => {
      jest.advanceTimersByTime(200);
    });
    fireEvent.change(screen.getByLabelText('Search tags'), { target: { value: 'v1.2' } });
    act(() => {
      jest.advanceTimersByTime(249);
    });
    await settle();
    // still typing: nothing asked yet
    expect(load).toHaveBeenCalledTimes(2);
    act(() => {
      jest.advanceTimersByTime(1);
    });
    await settle();
    expect(screen.getByText('1-8 of 11')).toBeInTheDocument();
    expect(load.mock.calls.map(([query]) => query)).toEqual([
      { q: '', limit: 8, offset: 0 },
      { q: '', limit: 8, offset: 8 },
      { q: 'v1.2', limit: 8, offset: 0 },
    ]);
  });

  it('going back to what was searched before the pause asks nothing again', async () => {
    const load = backend(30);
    renderPicker(load);
    await settle();
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await settle();
    fireEvent.change(screen.getByLabelText('Search tags'), { target: { value: 'v1.2' } });
    act(() => {
      jest.advanceTimersByTime(100);
    });
    fireEvent.change(screen.getByLabelText('Search tags'), { target: { value: '' } });
    act(() => {
      jest.advanceTimersByTime(1000);
    });
    await settle();
    expect(screen.getByText('9-16 of 30')).toBeInTheDocument();
    expect(load).toHaveBeenCalledTimes(2);
  });
});

import '@testing-library/jest-dom';

// the machine running the tests may be busy: a user-event flow takes seconds there
jest.setTimeout(30_000);
